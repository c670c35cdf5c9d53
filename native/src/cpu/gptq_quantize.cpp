// GPTQ quantization of one linear on the CPU (IST-DASLab / AutoGPTQ fasterquant; contract in jswift.h), and the
// round-to-nearest baseline. Every output channel (row of W) is quantized independently given Hinv, so the
// column loop of a lazy batch runs with rows spread over OpenMP threads, each row's batch in a small local
// buffer; the batch's errors then reach the remaining columns with one sgemm.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include <omp.h>

#include "core/dtype.h"
#include "core/error.h"
#include "kernels/gemm.h"
#include "kernels/gptq.h"

namespace jsw {
namespace cpu {

namespace {

struct Grid {
  float scale;
  int zero;
};

// AutoGPTQ's Quantizer.find_params(weight=True) for one row of one group (see jswift.h for the two deviations:
// the f16 scale and an asym zero of at least 1).
Grid find_params(const float* x, int64_t n, int maxq, bool sym) {
  float xmin = 0.0f, xmax = 0.0f;
  for (int64_t i = 0; i < n; i++) {
    xmin = std::min(xmin, x[i]);
    xmax = std::max(xmax, x[i]);
  }
  if (sym) {
    xmax = std::max(std::fabs(xmin), xmax);
    if (xmin < 0.0f) xmin = -xmax;
  }
  if (xmin == 0.0f && xmax == 0.0f) {
    xmin = -1.0f;
    xmax = 1.0f;
  }
  float scale = to_float(from_float<f16>((xmax - xmin) / float(maxq)));
  if (scale == 0.0f) scale = 5.9604644775390625e-08f;  // the smallest f16 subnormal: no division by zero
  int zero = sym ? (maxq + 1) / 2 : int(std::nearbyint(-xmin / scale));
  if (!sym) zero = std::min(maxq, std::max(1, zero));
  return {scale, zero};
}

inline int quantize_one(float x, const Grid& g, int maxq) {
  float q = std::nearbyint(x / g.scale) + float(g.zero);
  return int(std::min(float(maxq), std::max(0.0f, q)));
}

inline float value(int q, const Grid& g) { return g.scale * float(q - g.zero); }

void round_to_nearest(float* w, int64_t out, int64_t in, int maxq, int64_t gsz, bool sym, int32_t* codes,
                      float* scales, int32_t* zeros, int32_t* g_idx, double* loss) {
  std::vector<double> row_loss(size_t(out), 0.0);
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < out; r++) {
    float* wr = w + r * in;
    double l = 0.0;
    for (int64_t g0 = 0; g0 < in; g0 += gsz) {
      int64_t g1 = std::min(in, g0 + gsz);
      Grid grid = find_params(wr + g0, g1 - g0, maxq, sym);
      scales[(g0 / gsz) * out + r] = grid.scale;
      zeros[(g0 / gsz) * out + r] = grid.zero;
      for (int64_t k = g0; k < g1; k++) {
        int q = quantize_one(wr[k], grid, maxq);
        float v = value(q, grid);
        l += double(wr[k] - v) * double(wr[k] - v);
        codes[r * in + k] = q;
        wr[k] = v;
      }
    }
    row_loss[size_t(r)] = l / 2.0;
  }
  for (int64_t k = 0; k < in; k++) g_idx[k] = int32_t(k / gsz);
  *loss = std::accumulate(row_loss.begin(), row_loss.end(), 0.0);
}

}  // namespace

void gptq_hessian_add(const float* x, int64_t rows, int64_t in, float* h, int64_t seen) {
  double total = double(seen) + double(rows);
  sgemm(true, false, in, in, rows, float(2.0 / total), x, in, x, in, float(double(seen) / total), h, in);
}

void gptq_quantize(float* w, float* h, int64_t out, int64_t in, int bits, int64_t group_size, bool sym,
                   bool desc_act, float percdamp, int64_t block, int32_t* codes, float* scales, int32_t* zeros,
                   int32_t* g_idx, double* loss) {
  const int maxq = (1 << bits) - 1;
  const int64_t gsz = group_size == -1 ? in : group_size;
  if (h == nullptr) {
    round_to_nearest(w, out, in, maxq, gsz, sym, codes, scales, zeros, g_idx, loss);
    return;
  }
  // The row grids of the current group; group_size -1 takes them from W as given, before dead columns are
  // zeroed (the reference calls find_params before that step).
  std::vector<Grid> grid(static_cast<size_t>(out));
  if (group_size == -1) {
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < out; r++) {
      grid[size_t(r)] = find_params(w + r * in, in, maxq, sym);
      scales[r] = grid[size_t(r)].scale;
      zeros[r] = grid[size_t(r)].zero;
    }
  }
  for (int64_t i = 0; i < in; i++) {
    if (h[i * in + i] != 0.0f) continue;
    h[i * in + i] = 1.0f;
    for (int64_t r = 0; r < out; r++) w[r * in + i] = 0.0f;
  }
  std::vector<int64_t> perm(static_cast<size_t>(in));
  std::iota(perm.begin(), perm.end(), int64_t(0));
  std::vector<float> wp_buf, hp_buf;
  float* wp = w;  // the working copy in processing order (w itself without act-order)
  float* hp = h;
  if (desc_act) {
    std::stable_sort(perm.begin(), perm.end(), [&](int64_t a, int64_t b) { return h[a * in + a] > h[b * in + b]; });
    wp_buf.resize(size_t(out * in));
    hp_buf.resize(size_t(in * in));
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < out; r++)
      for (int64_t k = 0; k < in; k++) wp_buf[size_t(r * in + k)] = w[r * in + perm[size_t(k)]];
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < in; i++)
      for (int64_t j = 0; j < in; j++) hp_buf[size_t(i * in + j)] = h[perm[size_t(i)] * in + perm[size_t(j)]];
    wp = wp_buf.data();
    hp = hp_buf.data();
  }
  double mean_diag = 0.0;
  for (int64_t i = 0; i < in; i++) mean_diag += hp[i * in + i];
  float damp = float(double(percdamp) * mean_diag / double(in));
  for (int64_t i = 0; i < in; i++) hp[i * in + i] += damp;
  require(inverse_cholesky_upper(hp, in), "jsw_gptq_quantize",
          "the Hessian of this layer's inputs (%lld x %lld) is not positive definite after dampening by %g: raise "
          "damp_percent or give more calibration samples",
          (long long)in, (long long)in, double(percdamp));
  const float* hinv = hp;

  std::vector<float> err(static_cast<size_t>(out * block));
  std::vector<double> row_loss(size_t(out), 0.0);
  for (int64_t i1 = 0; i1 < in; i1 += block) {
    const int64_t i2 = std::min(in, i1 + block), count = i2 - i1;
#pragma omp parallel
    {
      std::vector<float> w1(static_cast<size_t>(count));
#pragma omp for schedule(static)
      for (int64_t r = 0; r < out; r++) {
        float* wr = wp + r * in;
        float* er = err.data() + r * block;
        std::copy(wr + i1, wr + i2, w1.begin());
        Grid g = grid[size_t(r)];
        double l = 0.0;
        for (int64_t i = 0; i < count; i++) {
          const int64_t col = i1 + i;
          if (group_size != -1 && col % gsz == 0) {
            // The group's columns as W holds them: this batch's in-flight updates are not in W yet (they live
            // in w1), exactly as the reference reads W[:, col:col + groupsize].
            g = find_params(wr + col, std::min(gsz, in - col), maxq, sym);
            scales[(col / gsz) * out + r] = g.scale;
            zeros[(col / gsz) * out + r] = g.zero;
          }
          const float x = w1[size_t(i)];
          const int q = quantize_one(x, g, maxq);
          const float v = value(q, g);
          const float d = hinv[col * in + col];
          const float e = (x - v) / d;
          l += double(x - v) * double(x - v) / (double(d) * double(d)) / 2.0;
          codes[r * in + perm[size_t(col)]] = q;
          const float* hrow = hinv + col * in + i1;
#pragma omp simd
          for (int64_t j = i + 1; j < count; j++) w1[size_t(j)] -= e * hrow[j];
          er[i] = e;
          w1[size_t(i)] = v;
        }
        // The batch's columns are final: W keeps their quantized values (no later group reads them).
        std::copy(w1.begin(), w1.end(), wr + i1);
        grid[size_t(r)] = g;
        row_loss[size_t(r)] += l;
      }
    }
    if (i2 < in)
      sgemm(false, false, out, in - i2, count, -1.0f, err.data(), block, hinv + i1 * in + i2, in, 1.0f, wp + i2,
            in);
  }
  if (desc_act) {
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < out; r++)
      for (int64_t k = 0; k < in; k++) w[r * in + perm[size_t(k)]] = wp[r * in + k];
  }
  for (int64_t k = 0; k < in; k++) g_idx[perm[size_t(k)]] = int32_t(k / gsz);
  *loss = std::accumulate(row_loss.begin(), row_loss.end(), 0.0);
}

}  // namespace cpu
}  // namespace jsw
