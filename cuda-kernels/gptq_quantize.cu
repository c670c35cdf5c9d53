// GPTQ's Hessian and quantizer on CUDA, the twins of native/src/cpu/gptq_quantize.cpp (contract: jsw_gptq_*
// in jswift.h). The work splits the same way: the Hessian is one GEMM (cuBLAS, plain fp32); the small serial
// part, dampening and the inverse Cholesky factor of the [in, in] Hessian, runs on the host with the CPU twin's
// LAPACK code (an O(in^3) factorisation done once per layer, next to O(out * in^2) of column updates); and the
// column loop of each lazy batch runs on the device with ONE WARP PER OUTPUT ROW: a batch of up to 128 columns
// lives in the warp's registers (4 per lane), column i is quantized by its owner lane and broadcast, and every
// lane updates its later columns with the error, so the serial dependency along a row costs one shuffle per
// column. The batch's errors then reach the remaining columns with one cuBLAS GEMM, as on the CPU.
// GEMM rounding differs from OpenBLAS's, so the twins agree to fp32 rounding (codes may differ where a value
// sits on a rounding boundary), not bit for bit.
#include <algorithm>
#include <numeric>
#include <vector>

#include "common.cuh"
#include "kernels/gemm.h"
#include "kernels/gptq.h"

namespace jsw {
namespace cuda {

namespace {

constexpr int kWarp = 32;
constexpr int kRowsPerBlock = 8;  // warps (rows) per 256-thread block
constexpr int kPerLane = 4;       // batch columns a lane holds: block <= 128

struct Grid {
  float scale;
  int zero;
};

// AutoGPTQ's find_params for one row of one group from its min / max (0 already included), with the CPU twin's
// two deviations: the scale rounded to f16, and an asym zero of at least 1.
__device__ Grid grid_from_range(float xmin, float xmax, int maxq, bool sym) {
  if (sym) {
    xmax = fmaxf(fabsf(xmin), xmax);
    if (xmin < 0.0f) xmin = -xmax;
  }
  if (xmin == 0.0f && xmax == 0.0f) {
    xmin = -1.0f;
    xmax = 1.0f;
  }
  float scale = __half2float(__float2half_rn(__fdiv_rn(xmax - xmin, float(maxq))));
  if (scale == 0.0f) scale = 5.9604644775390625e-08f;  // the smallest f16 subnormal
  int zero = sym ? (maxq + 1) / 2 : int(rintf(__fdiv_rn(-xmin, scale)));
  if (!sym) zero = min(maxq, max(1, zero));
  return {scale, zero};
}

__device__ __forceinline__ int quantize_one(float x, Grid g, int maxq) {
  float q = rintf(__fdiv_rn(x, g.scale)) + float(g.zero);
  return int(fminf(float(maxq), fmaxf(0.0f, q)));
}

__device__ __forceinline__ float value_of(int q, Grid g) { return __fmul_rn(g.scale, float(q - g.zero)); }

// min(x, 0) and max(x, 0) over row[0, n), reduced across the warp.
__device__ void warp_range(const float* row, int64_t n, int lane, float* xmin, float* xmax) {
  float lo = 0.0f, hi = 0.0f;
  for (int64_t k = lane; k < n; k += kWarp) {
    lo = fminf(lo, row[k]);
    hi = fmaxf(hi, row[k]);
  }
  for (int o = kWarp / 2; o > 0; o /= 2) {
    lo = fminf(lo, __shfl_xor_sync(0xffffffffu, lo, o));
    hi = fmaxf(hi, __shfl_xor_sync(0xffffffffu, hi, o));
  }
  *xmin = lo;
  *xmax = hi;
}

// Round-to-nearest (no Hessian): one warp per row, group by group.
__global__ void rtn_kernel(float* __restrict__ w, int64_t out, int64_t in, int maxq, int64_t gsz, bool sym,
                           int32_t* __restrict__ codes, float* __restrict__ scales, int32_t* __restrict__ zeros,
                           double* __restrict__ row_loss) {
  const int64_t r = (int64_t(blockIdx.x) * blockDim.x + threadIdx.x) / kWarp;
  const int lane = threadIdx.x % kWarp;
  if (r >= out) return;
  float* wr = w + r * in;
  double l = 0.0;
  for (int64_t g0 = 0; g0 < in; g0 += gsz) {
    const int64_t n = min(gsz, in - g0);
    float lo, hi;
    warp_range(wr + g0, n, lane, &lo, &hi);
    const Grid g = grid_from_range(lo, hi, maxq, sym);
    if (lane == 0) {
      scales[(g0 / gsz) * out + r] = g.scale;
      zeros[(g0 / gsz) * out + r] = g.zero;
    }
    for (int64_t k = lane; k < n; k += kWarp) {
      const float x = wr[g0 + k];
      const int q = quantize_one(x, g, maxq);
      const float v = value_of(q, g);
      l += double(x - v) * double(x - v);
      codes[r * in + g0 + k] = q;
      wr[g0 + k] = v;
    }
  }
  for (int o = kWarp / 2; o > 0; o /= 2) l += __shfl_xor_sync(0xffffffffu, l, o);
  if (lane == 0) row_loss[r] = l / 2.0;
}

// group_size -1: every row's one grid, from W as given.
__global__ void row_grid_kernel(const float* __restrict__ w, int64_t out, int64_t in, int maxq, bool sym,
                                float* __restrict__ grid_scale, int* __restrict__ grid_zero,
                                float* __restrict__ scales, int32_t* __restrict__ zeros) {
  const int64_t r = (int64_t(blockIdx.x) * blockDim.x + threadIdx.x) / kWarp;
  const int lane = threadIdx.x % kWarp;
  if (r >= out) return;
  float lo, hi;
  warp_range(w + r * in, in, lane, &lo, &hi);
  const Grid g = grid_from_range(lo, hi, maxq, sym);
  if (lane == 0) {
    grid_scale[r] = g.scale;
    grid_zero[r] = g.zero;
    scales[r] = g.scale;
    zeros[r] = g.zero;
  }
}

// Dead inputs (h_ii = 0) get a zero weight column.
__global__ void zero_columns_kernel(float* __restrict__ w, int64_t out, int64_t in, const int64_t* __restrict__ cols,
                                    int64_t ncols) {
  for (int64_t t = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; t < out * ncols;
       t += int64_t(gridDim.x) * blockDim.x)
    w[(t / ncols) * in + cols[t % ncols]] = 0.0f;
}

// dst[r, k] = src[r, perm[k]] (to processing order), or dst[r, perm[k]] = src[r, k] (back).
__global__ void permute_columns_kernel(const float* __restrict__ src, float* __restrict__ dst, int64_t out, int64_t in,
                                       const int64_t* __restrict__ perm, bool inverse) {
  for (int64_t t = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; t < out * in; t += int64_t(gridDim.x) * blockDim.x) {
    const int64_t r = t / in, k = t % in;
    if (inverse)
      dst[r * in + perm[k]] = src[t];
    else
      dst[t] = src[r * in + perm[k]];
  }
}

__global__ void g_idx_kernel(const int64_t* __restrict__ perm, int64_t in, int64_t gsz, int32_t* __restrict__ g_idx) {
  for (int64_t k = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; k < in; k += int64_t(gridDim.x) * blockDim.x)
    g_idx[perm ? perm[k] : k] = int32_t(k / gsz);
}

// One lazy batch, columns [i1, i1 + count) of the working W (processing order): one warp per row.
__global__ void batch_kernel(float* __restrict__ wp, const float* __restrict__ hinv, int64_t out, int64_t in,
                             int64_t i1, int count, int64_t gsz, bool grouped, int maxq, bool sym,
                             const int64_t* __restrict__ perm, int32_t* __restrict__ codes, float* __restrict__ scales,
                             int32_t* __restrict__ zeros, float* __restrict__ grid_scale, int* __restrict__ grid_zero,
                             float* __restrict__ err, int64_t block, double* __restrict__ row_loss) {
  const int64_t r = (int64_t(blockIdx.x) * blockDim.x + threadIdx.x) / kWarp;
  const int lane = threadIdx.x % kWarp;
  if (r >= out) return;
  float* wr = wp + r * in;
  float w1[kPerLane];
#pragma unroll
  for (int s = 0; s < kPerLane; s++) {
    const int j = lane + kWarp * s;
    w1[s] = j < count ? wr[i1 + j] : 0.0f;
  }
  Grid g = {grid_scale[r], grid_zero[r]};
  double l = 0.0;
  for (int i = 0; i < count; i++) {
    const int64_t col = i1 + i;
    if (grouped && col % gsz == 0) {
      // The group's columns as W holds them (this batch's in-flight updates live in w1), as the reference reads.
      float lo, hi;
      warp_range(wr + col, min(gsz, in - col), lane, &lo, &hi);
      g = grid_from_range(lo, hi, maxq, sym);
      if (lane == 0) {
        scales[(col / gsz) * out + r] = g.scale;
        zeros[(col / gsz) * out + r] = g.zero;
      }
    }
    const int owner = i % kWarp, slot = i / kWarp;
    float mine = w1[0];
#pragma unroll
    for (int s = 1; s < kPerLane; s++)
      if (slot == s) mine = w1[s];
    const float x = __shfl_sync(0xffffffffu, mine, owner);
    const int q = quantize_one(x, g, maxq);
    const float v = value_of(q, g);
    const float d = hinv[col * in + col];
    const float e = __fdiv_rn(x - v, d);
    if (lane == 0) {
      l += double(x - v) * double(x - v) / (double(d) * double(d)) / 2.0;
      codes[r * in + perm[col]] = q;
      err[r * block + i] = e;
    }
    const float* hrow = hinv + col * in + i1;
#pragma unroll
    for (int s = 0; s < kPerLane; s++) {
      const int j = lane + kWarp * s;
      if (j > i && j < count) w1[s] -= e * hrow[j];
      if (j == i) w1[s] = v;
    }
  }
#pragma unroll
  for (int s = 0; s < kPerLane; s++) {
    const int j = lane + kWarp * s;
    if (j < count) wr[i1 + j] = w1[s];
  }
  if (lane == 0) {
    grid_scale[r] = g.scale;
    grid_zero[r] = g.zero;
    row_loss[r] += l;
  }
}

unsigned warp_blocks(int64_t rows) { return blocks_for(rows, kRowsPerBlock); }

unsigned stride_blocks(int64_t n) { return std::min(blocks_for(n, 256), 1u << 20); }

double sum_on_host(int device, const double* d_values, int64_t n) {
  std::vector<double> v(static_cast<size_t>(n));
  memcpy(v.data(), JSW_CPU, d_values, device, n * int64_t(sizeof(double)));
  return std::accumulate(v.begin(), v.end(), 0.0);  // in row order, as the CPU twin sums
}

}  // namespace

void gptq_hessian_add(int device, const float* x, int64_t rows, int64_t in, float* h, int64_t seen) {
  double total = double(seen) + double(rows);
  GemmArgs g{JSW_F32, JSW_F32, true, false, in, in, rows, float(2.0 / total), x, in, x, in,
             float(double(seen) / total), h, in};
  gemm(device, g);
}

void gptq_quantize(int device, float* w, float* h, int64_t out, int64_t in, int bits, int64_t group_size, bool sym,
                   bool desc_act, float percdamp, int64_t block, int32_t* codes, float* scales, int32_t* zeros,
                   int32_t* g_idx, double* loss) {
  cudaStream_t s = stream(device);
  const int maxq = (1 << bits) - 1;
  const int64_t gsz = group_size == -1 ? in : group_size;
  Scratch row_loss(device, out * int64_t(sizeof(double)));
  if (h == nullptr) {
    rtn_kernel<<<warp_blocks(out), kRowsPerBlock * kWarp, 0, s>>>(w, out, in, maxq, gsz, sym, codes, scales, zeros,
                                                                  row_loss.as<double>());
    check_launch("gptq rtn_kernel");
    g_idx_kernel<<<stride_blocks(in), 256, 0, s>>>(nullptr, in, gsz, g_idx);
    check_launch("gptq g_idx_kernel");
    *loss = sum_on_host(device, row_loss.as<double>(), out);
    return;
  }
  memset(device, row_loss.as<double>(), 0, out * int64_t(sizeof(double)));
  Scratch grid_scale(device, out * int64_t(sizeof(float))), grid_zero(device, out * int64_t(sizeof(int)));
  if (group_size == -1) {
    row_grid_kernel<<<warp_blocks(out), kRowsPerBlock * kWarp, 0, s>>>(w, out, in, maxq, sym, grid_scale.as<float>(),
                                                                       grid_zero.as<int>(), scales, zeros);
    check_launch("gptq row_grid_kernel");
  }

  // The serial part on the host, exactly as the CPU twin: dead inputs, act-order, dampening, Hinv.
  std::vector<float> hh(static_cast<size_t>(in * in));
  memcpy(hh.data(), JSW_CPU, h, device, in * in * int64_t(sizeof(float)));
  std::vector<int64_t> dead;
  for (int64_t i = 0; i < in; i++)
    if (hh[size_t(i * in + i)] == 0.0f) {
      hh[size_t(i * in + i)] = 1.0f;
      dead.push_back(i);
    }
  std::vector<int64_t> perm(static_cast<size_t>(in));
  std::iota(perm.begin(), perm.end(), int64_t(0));
  if (desc_act) {
    std::stable_sort(perm.begin(), perm.end(),
                     [&](int64_t a, int64_t b) { return hh[size_t(a * in + a)] > hh[size_t(b * in + b)]; });
    std::vector<float> hp(static_cast<size_t>(in * in));
    for (int64_t i = 0; i < in; i++)
      for (int64_t j = 0; j < in; j++) hp[size_t(i * in + j)] = hh[size_t(perm[size_t(i)] * in + perm[size_t(j)])];
    hh.swap(hp);
  }
  double mean_diag = 0.0;
  for (int64_t i = 0; i < in; i++) mean_diag += hh[size_t(i * in + i)];
  const float damp = float(double(percdamp) * mean_diag / double(in));
  for (int64_t i = 0; i < in; i++) hh[size_t(i * in + i)] += damp;
  require(cpu::inverse_cholesky_upper(hh.data(), in), "jsw_gptq_quantize",
          "the Hessian of this layer's inputs (%lld x %lld) is not positive definite after dampening by %g: raise "
          "damp_percent or give more calibration samples",
          (long long)in, (long long)in, double(percdamp));

  Scratch hinv(device, in * in * int64_t(sizeof(float))), d_perm(device, in * int64_t(sizeof(int64_t)));
  memcpy(hinv.as<float>(), device, hh.data(), JSW_CPU, in * in * int64_t(sizeof(float)));
  memcpy(d_perm.as<int64_t>(), device, perm.data(), JSW_CPU, in * int64_t(sizeof(int64_t)));
  if (!dead.empty()) {
    Scratch d_dead(device, int64_t(dead.size() * sizeof(int64_t)));
    memcpy(d_dead.as<int64_t>(), device, dead.data(), JSW_CPU, int64_t(dead.size() * sizeof(int64_t)));
    zero_columns_kernel<<<stride_blocks(out * int64_t(dead.size())), 256, 0, s>>>(w, out, in, d_dead.as<int64_t>(),
                                                                                  int64_t(dead.size()));
    check_launch("gptq zero_columns_kernel");
  }
  Scratch wp_buf(device, desc_act ? out * in * int64_t(sizeof(float)) : 1);
  float* wp = w;
  if (desc_act) {
    wp = wp_buf.as<float>();
    permute_columns_kernel<<<stride_blocks(out * in), 256, 0, s>>>(w, wp, out, in, d_perm.as<int64_t>(), false);
    check_launch("gptq permute_columns_kernel");
  }

  Scratch err(device, out * block * int64_t(sizeof(float)));
  for (int64_t i1 = 0; i1 < in; i1 += block) {
    const int64_t i2 = std::min(in, i1 + block), count = i2 - i1;
    batch_kernel<<<warp_blocks(out), kRowsPerBlock * kWarp, 0, s>>>(
        wp, hinv.as<float>(), out, in, i1, int(count), gsz, group_size != -1, maxq, sym, d_perm.as<int64_t>(), codes,
        scales, zeros, grid_scale.as<float>(), grid_zero.as<int>(), err.as<float>(), block, row_loss.as<double>());
    check_launch("gptq batch_kernel");
    if (i2 < in) {
      GemmArgs g{JSW_F32, JSW_F32, false, false, out, in - i2, count, -1.0f, err.as<float>(), block,
                 hinv.as<float>() + i1 * in + i2, in, 1.0f, wp + i2, in};
      gemm(device, g);
    }
  }
  if (desc_act) {
    permute_columns_kernel<<<stride_blocks(out * in), 256, 0, s>>>(wp, w, out, in, d_perm.as<int64_t>(), true);
    check_launch("gptq permute_columns_kernel");
  }
  g_idx_kernel<<<stride_blocks(in), 256, 0, s>>>(d_perm.as<int64_t>(), in, gsz, g_idx);
  check_launch("gptq g_idx_kernel");
  *loss = sum_on_host(device, row_loss.as<double>(), out);
}

}  // namespace cuda
}  // namespace jsw
