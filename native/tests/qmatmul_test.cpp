// Dequant-to-tile GEMM (jsw_nf4_matmul, jsw_gptq_matmul, jsw_awq_matmul): forward (x W^T) and frozen backward
// (x W), with beta, against an fp64 product with a dense W unpacked here independently (codebook / shifts, one
// value at a time); NF4 plain and double-quantized, GPTQ 2/4/8 bits with an act-order g_idx, AWQ (interleaved
// output packing); odd rows (1, 5, 67), odd in / out, and a weight big enough for several panels (so panel edges
// and the backward's panel accumulation are hit).
// Then argument checks, the CUDA twin against the CPU one on poisoned outputs, and the same for the GPTQ
// dequant-GEMV (jsw_gptq_gemv).
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <string>

#include "../src/kernels/nf4_mma.h"  // mma_splits, a pure function of the CUDA driver
#include "../src/kernels/qmatmul.h"  // panel_columns, likewise
#include "test.h"

using namespace jsw_test;

namespace {

// One packed weight of either format, with the dense fp64 W it stands for.
struct QWeight {
  bool gptq = false, awq = false;
  int64_t out = 0, in = 0;
  // NF4
  int64_t blocksize = 64;
  bool dq = false;
  std::vector<uint8_t> packed, absmax_q;
  std::vector<float> absmax, nested;
  float offset = 0.0f;
  // GPTQ
  int bits = 4;
  int64_t groups = 1;
  std::vector<int32_t> qweight, qzeros, g_idx;
  std::vector<float> scales;
  // AWQ (qweight / qzeros / scales above, in AWQ's layout)
  int64_t group_size = 0;
  std::vector<double> dense;  // [out, in]
};

const char* format_name(const QWeight& q) { return q.gptq ? "gptq" : q.awq ? "awq" : "nf4"; }

QWeight make_nf4(int64_t out, int64_t in, int64_t blocksize, bool dq, uint64_t seed) {
  QWeight q;
  q.out = out, q.in = in, q.blocksize = blocksize, q.dq = dq;
  int64_t n = in * out, blocks = (n + blocksize - 1) / blocksize;
  std::vector<float> w = randn(n, seed, 0.05f);
  q.packed.resize(size_t((n + 1) / 2));
  q.absmax.resize(size_t(blocks));
  JSW_CHECK(jsw_nf4_quantize(JSW_CPU, JSW_F32, w.data(), n, blocksize, q.packed.data(), q.absmax.data()));
  std::vector<float> scale = q.absmax;
  if (dq) {
    q.absmax_q.resize(size_t(blocks));
    q.nested.resize(size_t((blocks + 255) / 256));
    JSW_CHECK(jsw_quantize_absmax_8bit(JSW_CPU, q.absmax.data(), blocks, q.absmax_q.data(), q.nested.data(),
                                       &q.offset));
    std::vector<float> code(256);
    JSW_CHECK(jsw_dynamic_map_signed(code.data()));
    for (int64_t b = 0; b < blocks; b++) {
      volatile float prod = code[q.absmax_q[size_t(b)]] * q.nested[size_t(b / 256)];
      scale[size_t(b)] = prod + q.offset;
    }
  }
  std::vector<float> levels(16);
  JSW_CHECK(jsw_nf4_codebook(levels.data()));
  q.dense.resize(size_t(n));
  for (int64_t e = 0; e < n; e++) {
    int nib = e % 2 == 0 ? q.packed[size_t(e / 2)] >> 4 : q.packed[size_t(e / 2)] & 15;
    q.dense[size_t(e)] = double(levels[size_t(nib)]) * double(scale[size_t(e / blocksize)]);
  }
  return q;
}

// act_order scrambles g_idx as desc_act checkpoints do; without it, input i is in group i / ceil(in / groups).
QWeight make_gptq(int64_t out, int64_t in, int bits, int64_t groups, uint64_t seed, bool act_order = true) {
  QWeight q;
  q.gptq = true;
  q.out = out, q.in = in, q.bits = bits, q.groups = groups;
  const int p = 32 / bits, maxq = (1 << bits) - 1;
  std::vector<float> u = uniform(in * out + groups * out * 2 + in, seed, 0.0f, 1.0f);
  size_t at = 0;
  std::vector<int32_t> codes(size_t(in * out)), zeros(size_t(groups * out));
  for (auto& c : codes) c = std::min(maxq, int(u[at++] * float(maxq + 1)));
  for (auto& z : zeros) z = std::min(maxq, int(u[at++] * float(maxq + 1)));
  q.scales.resize(size_t(groups * out));
  for (auto& s : q.scales) s = round_to({0.001f + 0.05f * u[at++]}, JSW_F16)[0];
  q.g_idx.resize(size_t(in));
  int64_t gs = (in + groups - 1) / groups;
  for (int64_t i = 0; i < in; i++) q.g_idx[size_t(i)] = int32_t(i / gs);
  for (int64_t i = in - 1; act_order && i > 0; i--)  // act-order: a scrambled g_idx
    std::swap(q.g_idx[size_t(i)], q.g_idx[size_t(int64_t(u[at++] * float(i + 1)) % (i + 1))]);
  q.qweight.assign(size_t(in / p * out), 0);
  q.qzeros.assign(size_t(groups * out / p), 0);
  for (int64_t c = 0; c < out; c++)
    for (int64_t i = 0; i < in; i++)
      q.qweight[size_t((i / p) * out + c)] |= int32_t(uint32_t(codes[size_t(c * in + i)]) << (bits * (i % p)));
  for (int64_t g = 0; g < groups; g++)
    for (int64_t c = 0; c < out; c++)
      q.qzeros[size_t(g * (out / p) + c / p)] |=
          int32_t((uint32_t(zeros[size_t(g * out + c)] - 1) & uint32_t(maxq)) << (bits * (c % p)));
  q.dense.resize(size_t(in * out));
  for (int64_t c = 0; c < out; c++)
    for (int64_t i = 0; i < in; i++) {
      int64_t g = q.g_idx[size_t(i)];
      q.dense[size_t(c * in + i)] =
          double(q.scales[size_t(g * out + c)]) * double(codes[size_t(c * in + i)] - zeros[size_t(g * out + c)]);
    }
  return q;
}

// AWQ packs from the layout comment of jsw_awq_dequantize: nibble i of word [k, j] holds output 8j + ORDER[i]
// (the pack direction; the kernels decode with the inverse table).
QWeight make_awq(int64_t out, int64_t in, int64_t group_size, uint64_t seed) {
  static const int kOrder[8] = {0, 2, 4, 6, 1, 3, 5, 7};
  QWeight q;
  q.awq = true;
  q.out = out, q.in = in, q.group_size = group_size;
  const int64_t groups = in / group_size, words = out / 8;
  std::vector<float> u = uniform(in * out + groups * out * 2, seed, 0.0f, 1.0f);
  size_t at = 0;
  std::vector<int32_t> codes(size_t(in * out)), zeros(size_t(groups * out));  // [in, out], [groups, out]
  for (auto& c : codes) c = std::min(15, int(u[at++] * 16.0f));
  for (auto& z : zeros) z = std::min(15, int(u[at++] * 16.0f));
  q.scales.resize(size_t(groups * out));
  for (auto& s : q.scales) s = round_to({0.001f + 0.05f * u[at++]}, JSW_F16)[0];
  q.qweight.assign(size_t(in * words), 0);
  q.qzeros.assign(size_t(groups * words), 0);
  for (int64_t j = 0; j < words; j++)
    for (int i = 0; i < 8; i++) {
      const int64_t c = 8 * j + kOrder[i];
      for (int64_t k = 0; k < in; k++)
        q.qweight[size_t(k * words + j)] |= int32_t(uint32_t(codes[size_t(k * out + c)]) << (4 * i));
      for (int64_t g = 0; g < groups; g++)
        q.qzeros[size_t(g * words + j)] |= int32_t(uint32_t(zeros[size_t(g * out + c)]) << (4 * i));
    }
  q.dense.resize(size_t(in * out));
  for (int64_t c = 0; c < out; c++)
    for (int64_t k = 0; k < in; k++) {
      const int64_t g = k / group_size;
      q.dense[size_t(c * in + k)] =
          double(q.scales[size_t(g * out + c)]) * double(codes[size_t(k * out + c)] - zeros[size_t(g * out + c)]);
    }
  return q;
}

// y = x W^T (trans 0: x [rows, in]) or x W (trans 1: x [rows, out]) + beta y0, in fp64, with the magnitude
// sum |x||w| + |beta y0| of every output (the scale the fp32 rounding error is relative to).
void reference(const QWeight& q, const std::vector<float>& x, int64_t rows, bool trans, float beta,
               const std::vector<float>& y0, std::vector<double>& y, std::vector<double>& mag) {
  int64_t ycols = trans ? q.in : q.out, k = trans ? q.out : q.in;
  y.assign(size_t(rows * ycols), 0.0);
  mag.assign(size_t(rows * ycols), 0.0);
  for (int64_t r = 0; r < rows; r++)
    for (int64_t j = 0; j < ycols; j++) {
      double s = 0.0, m = 0.0;
      for (int64_t i = 0; i < k; i++) {
        double w = trans ? q.dense[size_t(i * q.in + j)] : q.dense[size_t(j * q.in + i)];
        double t = double(x[size_t(r * k + i)]) * w;
        s += t;
        m += std::fabs(t);
      }
      if (beta != 0.0f) {
        s += double(beta) * double(y0[size_t(r * ycols + j)]);
        m += std::fabs(double(beta) * double(y0[size_t(r * ycols + j)]));
      }
      y[size_t(r * ycols + j)] = s;
      mag[size_t(r * ycols + j)] = m;
    }
}

std::vector<float> run(int device, int dtype, const QWeight& q, const std::vector<float>& x, int64_t rows,
                       bool trans, float beta, const std::vector<float>& y0) {
  int64_t ycols = trans ? q.in : q.out;
  Buffer xb = upload(device, dtype, x);
  Buffer y = beta != 0.0f ? upload(device, dtype, y0) : poisoned(device, dtype, rows * ycols);
  if (q.awq) {
    Buffer qw = upload_i32(device, q.qweight), qz = upload_i32(device, q.qzeros);
    Buffer sc = upload(device, JSW_F16, q.scales);
    JSW_CHECK(jsw_awq_matmul(device, dtype, xb.get(), rows, trans ? 1 : 0, qw.as<int32_t>(), qz.as<int32_t>(),
                             sc.as<uint16_t>(), q.out, q.in, q.group_size, beta, y.get()));
  } else if (q.gptq) {
    Buffer qw = upload_i32(device, q.qweight), qz = upload_i32(device, q.qzeros), gi = upload_i32(device, q.g_idx);
    Buffer sc = upload(device, JSW_F16, q.scales);
    JSW_CHECK(jsw_gptq_matmul(device, dtype, xb.get(), rows, trans ? 1 : 0, qw.as<int32_t>(), qz.as<int32_t>(),
                              sc.as<uint16_t>(), gi.as<int32_t>(), q.out, q.in, q.bits, q.groups, beta, y.get()));
  } else {
    std::vector<float> code(256);
    JSW_CHECK(jsw_dynamic_map_signed(code.data()));
    Buffer packed = upload_u8(device, q.packed), absmax = upload(device, JSW_F32, q.absmax);
    Buffer aq = upload_u8(device, q.dq ? q.absmax_q : std::vector<uint8_t>{0});
    Buffer nested = upload(device, JSW_F32, q.dq ? q.nested : std::vector<float>{0.0f});
    Buffer c = upload(device, JSW_F32, code);
    JSW_CHECK(jsw_nf4_matmul(device, dtype, xb.get(), rows, trans ? 1 : 0, packed.as<uint8_t>(),
                             q.dq ? nullptr : absmax.as<float>(), q.dq ? aq.as<uint8_t>() : nullptr,
                             q.dq ? nested.as<float>() : nullptr, q.dq ? c.as<float>() : nullptr, q.offset, q.out,
                             q.in, q.blocksize, beta, y.get()));
  }
  JSW_CHECK(jsw_synchronize(device));
  return download(y, dtype, rows * ycols);
}

// fp32: the GEMM's summation of `in` (or `out`) products, far inside 1e-5 of sum |x w|; bf16 / f16 outputs add
// one storage rounding (2^-8 / 2^-11 relative) of a value at most sum |x w|.
double tolerance(int dtype) { return dtype == JSW_F32 ? 1e-5 : dtype == JSW_BF16 ? 8e-3 : 1e-3; }

void check_against_fp64(const QWeight& q, const char* what, std::initializer_list<int64_t> row_counts,
                        std::initializer_list<int> dtypes) {
  for (int dtype : dtypes)
    for (int64_t rows : row_counts)
      for (bool trans : {false, true}) {
        float beta = rows % 2 == 1 ? 0.0f : 0.5f;  // beta = 0 on poisoned outputs, 0.5 on random ones
        int64_t xcols = trans ? q.out : q.in, ycols = trans ? q.in : q.out;
        std::vector<float> x = round_to(randn(rows * xcols, uint64_t(rows * 7 + trans)), dtype);
        std::vector<float> y0 = round_to(randn(rows * ycols, uint64_t(rows * 11 + trans)), dtype);
        std::vector<double> want, mag;
        reference(q, x, rows, trans, beta, y0, want, mag);
        std::vector<float> got = run(JSW_CPU, dtype, q, x, rows, trans, beta, y0);
        for (int64_t k = 0; k < rows * ycols; k++)
          JSW_EXPECT(std::fabs(double(got[size_t(k)]) - want[size_t(k)]) <= tolerance(dtype) * (mag[size_t(k)] + 1e-6),
                     "%s dtype %d rows %lld trans %d: y[%lld] = %.8g, want %.8g", what, dtype, (long long)rows,
                     int(trans), (long long)k, double(got[size_t(k)]), want[size_t(k)]);
      }
}

}  // namespace

JSW_TEST(qmatmul_nf4_matches_fp64) {
  // Odd in (rows start mid-byte), a blocksize not dividing in, double quantization, all dtypes.
  check_against_fp64(make_nf4(19, 67, 64, false, 1), "nf4 19x67", {1, 5, 67}, {JSW_F32, JSW_BF16, JSW_F16});
  check_against_fp64(make_nf4(37, 200, 7, true, 2), "nf4 dq 37x200 bs7", {1, 5, 67}, {JSW_F32, JSW_BF16});
  // 4099 inputs: panels of 240 rows (the 4 MiB tile), so 500 outputs are 240 + 240 + 20.
  check_against_fp64(make_nf4(500, 4099, 64, true, 3), "nf4 dq 500x4099 (3 panels)", {1, 5}, {JSW_F32, JSW_BF16});
  // Whole blocks of 64 from a row start: the AVX-512 tile decode (where the CPU has it) and the baseline's loop.
  check_against_fp64(make_nf4(48, 256, 64, false, 12), "nf4 48x256", {1, 67}, {JSW_F32, JSW_BF16});
  with_baseline_isa([] { check_against_fp64(make_nf4(48, 256, 64, false, 12), "nf4 48x256 baseline", {67}, {JSW_F32}); });
}

// The tile decode gives the dequantization's values bit for bit (its one fp32 product level * scale), in every
// instruction-set build: with x the identity, y = x W^T holds W itself (each output one product plus exact
// zeros), compared with jsw_nf4_dequantize. Blocks of 64 run the AVX-512 decode (32 bytes a block) or the AVX2
// one (8 bytes a step); blocks of 48 leave 8 bytes past the AVX-512 steps; odd rows start mid-byte; blocks of 7
// run the scalar ends.
JSW_TEST(qmatmul_nf4_tile_decode_is_the_dequantization) {
  struct Case {
    int64_t out, in, blocksize;
  };
  for (Case c : {Case{24, 256, 64}, Case{20, 192, 48}, Case{9, 131, 64}, Case{6, 70, 7}}) {
    const QWeight q = make_nf4(c.out, c.in, c.blocksize, false, uint64_t(c.in));
    std::vector<float> eye(size_t(c.in * c.in), 0.0f);
    for (int64_t i = 0; i < c.in; i++) eye[size_t(i * c.in + i)] = 1.0f;
    std::vector<float> want(size_t(c.out * c.in));
    JSW_CHECK(jsw_nf4_dequantize(JSW_CPU, JSW_F32, q.packed.data(), q.absmax.data(), c.out * c.in, c.blocksize,
                                 want.data()));
    auto check = [&](const char* build) {
      std::vector<float> y = run(JSW_CPU, JSW_F32, q, eye, c.in, false, 0.0f, {});  // y[i, o] = W[o, i]
      for (int64_t o = 0; o < c.out; o++)
        for (int64_t i = 0; i < c.in; i++)
          JSW_EXPECT(y[size_t(i * c.out + o)] == want[size_t(o * c.in + i)],
                     "%s build, %lld x %lld blocks of %lld: W[%lld, %lld] = %.9g, the dequantization gives %.9g",
                     build, (long long)c.out, (long long)c.in, (long long)c.blocksize, (long long)o, (long long)i,
                     double(y[size_t(i * c.out + o)]), double(want[size_t(o * c.in + i)]));
    };
    check("default");
    with_baseline_isa([&] { check("baseline"); });
  }
}

JSW_TEST(qmatmul_gptq_matches_fp64) {
  check_against_fp64(make_gptq(24, 40, 4, 3, 4), "gptq4 24x40", {1, 5, 67}, {JSW_F32, JSW_BF16, JSW_F16});
  check_against_fp64(make_gptq(32, 48, 2, 2, 5), "gptq2 32x48", {1, 5, 67}, {JSW_F32, JSW_F16});
  check_against_fp64(make_gptq(12, 36, 8, 5, 6), "gptq8 12x36", {1, 5, 67}, {JSW_F32, JSW_BF16});
  // 4112 inputs: panels of 240 rows, 496 outputs = 240 + 240 + 16.
  check_against_fp64(make_gptq(496, 4112, 4, 32, 7), "gptq4 496x4112 (3 panels)", {1, 5}, {JSW_F32, JSW_BF16});
  // Group order (no act-order): words of one group decode as one vector; groups of 67 inputs leave words that
  // straddle two groups, which take the per-value loop in the same tile.
  check_against_fp64(make_gptq(48, 512, 4, 4, 13, false), "gptq4 static 48x512", {1, 67}, {JSW_F32, JSW_BF16});
  check_against_fp64(make_gptq(40, 200, 4, 3, 14, false), "gptq4 static 40x200 g67", {5, 67}, {JSW_F32});
}

JSW_TEST(qmatmul_awq_matches_fp64) {
  check_against_fp64(make_awq(24, 40, 8, 8), "awq 24x40 g8", {1, 5, 67}, {JSW_F32, JSW_BF16, JSW_F16});
  check_against_fp64(make_awq(16, 7, 7, 9), "awq 16x7 g7 (odd in)", {1, 5, 67}, {JSW_F32, JSW_BF16});
  // 4096 inputs: panels of 256 rows, 520 outputs = 256 + 256 + 8.
  check_against_fp64(make_awq(520, 4096, 128, 10), "awq 520x4096 (3 panels)", {1, 5}, {JSW_F32, JSW_BF16});
}

JSW_TEST(qmatmul_awq_rejects_bad_arguments) {
  float x[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, y[16];
  int32_t qw[2] = {0x12345678, 0x7654321}, qz[2] = {0x11111111, 0x22222222};
  uint16_t sc[16];
  std::fill(sc, sc + 16, uint16_t(0x3c00));
  auto awq = [&](int dtype, int64_t rows, int trans, int64_t out, int64_t in, int64_t gs, const int32_t* w,
                 float beta) {
    return jsw_awq_matmul(JSW_CPU, dtype, x, rows, trans, w, qz, sc, out, in, gs, beta, y);
  };
  JSW_EXPECT(awq(JSW_F32, 1, 0, 8, 2, 1, qw, 0.0f) == JSW_OK, "valid awq call");
  JSW_EXPECT(awq(JSW_F32, 1, 1, 8, 2, 2, qw, 0.0f) == JSW_OK, "valid awq backward call");
  JSW_EXPECT(awq(JSW_F32, 0, 0, 8, 2, 1, qw, 0.0f) == JSW_OK, "rows 0 is a no-op");
  JSW_EXPECT(awq(JSW_F32, -1, 0, 8, 2, 1, qw, 0.0f) == JSW_ERR_INVALID_ARGUMENT, "rows -1");
  JSW_EXPECT(awq(JSW_F32, 1, 2, 8, 2, 1, qw, 0.0f) == JSW_ERR_INVALID_ARGUMENT, "trans 2");
  JSW_EXPECT(awq(JSW_I32, 1, 0, 8, 2, 1, qw, 0.0f) == JSW_ERR_INVALID_ARGUMENT, "i32 dtype");
  JSW_EXPECT(awq(JSW_F32, 1, 0, 4, 2, 1, qw, 0.0f) == JSW_ERR_INVALID_ARGUMENT, "out not a multiple of 8");
  JSW_EXPECT(awq(JSW_F32, 1, 0, 8, 3, 2, qw, 0.0f) == JSW_ERR_INVALID_ARGUMENT, "in not a multiple of group_size");
  JSW_EXPECT(awq(JSW_F32, 1, 0, 8, 2, 0, qw, 0.0f) == JSW_ERR_INVALID_ARGUMENT, "group_size 0");
  JSW_EXPECT(awq(JSW_F32, 1, 0, 0, 2, 1, qw, 0.0f) == JSW_ERR_INVALID_ARGUMENT, "out_features 0");
  JSW_EXPECT(awq(JSW_F32, 1, 0, 8, 2, 1, nullptr, 0.0f) == JSW_ERR_INVALID_ARGUMENT, "null qweight");
  JSW_EXPECT(awq(JSW_F32, 1, 0, 8, 2, 1, qw, std::nanf("")) == JSW_ERR_INVALID_ARGUMENT, "NaN beta");
  JSW_EXPECT(jsw_awq_matmul(JSW_CPU, JSW_F32, x, 1, 0, qw, qz, nullptr, 8, 2, 1, 0.0f, y) == JSW_ERR_INVALID_ARGUMENT,
             "null scales");
  JSW_EXPECT(jsw_awq_matmul(JSW_CPU, JSW_F32, x, 1, 0, qw, qz, sc, 8, 2, 1, 0.0f, nullptr) ==
                 JSW_ERR_INVALID_ARGUMENT,
             "null y");
}

JSW_TEST(qmatmul_rejects_bad_arguments) {
  float x[8] = {1, 2, 3, 4, 5, 6, 7, 8}, absmax[1] = {1}, y[16];
  uint8_t packed[8] = {0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0}, q[1] = {3};
  auto nf4 = [&](int dtype, int64_t rows, int trans, const float* a, const uint8_t* aq, int64_t blocksize) {
    return jsw_nf4_matmul(JSW_CPU, dtype, x, rows, trans, packed, a, aq, nullptr, nullptr, 0.0f, 2, 8, blocksize,
                          0.0f, y);
  };
  JSW_EXPECT(nf4(JSW_F32, 1, 0, absmax, nullptr, 64) == JSW_OK, "valid call");
  JSW_EXPECT(nf4(JSW_F32, 0, 0, absmax, nullptr, 64) == JSW_OK, "rows 0 is a no-op");
  JSW_EXPECT(nf4(JSW_F32, -1, 0, absmax, nullptr, 64) == JSW_ERR_INVALID_ARGUMENT, "rows -1");
  JSW_EXPECT(nf4(JSW_F32, 1, 2, absmax, nullptr, 64) == JSW_ERR_INVALID_ARGUMENT, "trans 2");
  JSW_EXPECT(nf4(JSW_U8, 1, 0, absmax, nullptr, 64) == JSW_ERR_INVALID_ARGUMENT, "u8 dtype");
  JSW_EXPECT(nf4(JSW_F32, 1, 0, absmax, nullptr, 0) == JSW_ERR_INVALID_ARGUMENT, "blocksize 0");
  JSW_EXPECT(nf4(JSW_F32, 1, 0, nullptr, nullptr, 64) == JSW_ERR_INVALID_ARGUMENT, "no scales");
  JSW_EXPECT(nf4(JSW_F32, 1, 0, absmax, q, 64) == JSW_ERR_INVALID_ARGUMENT, "both scale kinds");
  JSW_EXPECT(nf4(JSW_F32, 1, 0, nullptr, q, 64) == JSW_ERR_INVALID_ARGUMENT, "dq without nested / code256");
  JSW_EXPECT(jsw_nf4_matmul(JSW_CPU, JSW_F32, x, 1, 0, packed, absmax, nullptr, nullptr, nullptr, 0.0f, 2, 8, 64,
                            0.0f, nullptr) == JSW_ERR_INVALID_ARGUMENT,
             "null y");
  JSW_EXPECT(jsw_nf4_matmul(JSW_CPU, JSW_F32, x, 1, 0, packed, absmax, nullptr, nullptr, nullptr, 0.0f, 0, 8, 64,
                            0.0f, y) == JSW_ERR_INVALID_ARGUMENT,
             "out_features 0");

  int32_t qw[1] = {0x12345678}, qz[1] = {0x11111111}, g[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  uint16_t sc[8] = {0x3c00, 0x3c00, 0x3c00, 0x3c00, 0x3c00, 0x3c00, 0x3c00, 0x3c00};
  auto gptq = [&](int bits, int64_t out, int64_t in, int64_t groups, const int32_t* gi, int trans) {
    return jsw_gptq_matmul(JSW_CPU, JSW_F32, x, 1, trans, qw, qz, sc, gi, out, in, bits, groups, 0.0f, y);
  };
  JSW_EXPECT(gptq(4, 8, 8, 1, g, 0) == JSW_OK, "valid gptq call");
  JSW_EXPECT(gptq(4, 8, 8, 1, g, 1) == JSW_OK, "valid gptq backward call");
  JSW_EXPECT(gptq(3, 8, 8, 1, g, 0) == JSW_ERR_INVALID_ARGUMENT, "3 bits");
  JSW_EXPECT(gptq(4, 8, 6, 1, g, 0) == JSW_ERR_INVALID_ARGUMENT, "in not a multiple of 8");
  JSW_EXPECT(gptq(4, 4, 8, 1, g, 0) == JSW_ERR_INVALID_ARGUMENT, "out not a multiple of 8");
  JSW_EXPECT(gptq(4, 8, 8, 0, g, 0) == JSW_ERR_INVALID_ARGUMENT, "0 groups");
  JSW_EXPECT(gptq(4, 8, 8, 1, nullptr, 0) == JSW_ERR_INVALID_ARGUMENT, "null g_idx");
  int32_t bad[8] = {0, 0, 0, 1, 0, 0, 0, 0};
  JSW_EXPECT(gptq(4, 8, 8, 1, bad, 0) == JSW_ERR_INVALID_ARGUMENT, "g_idx value outside the groups");
}

// The CUDA backward's column panels W[:, c0:c1] (kernels/qmatmul.h, a pure function): balanced widths in
// multiples of the quantum that tile all of in, within the tile budget, no more panels than the budget needs.
JSW_TEST(qmatmul_column_panels_tile_the_input) {
  struct Case {
    int64_t out, in, budget, quantum, want;
  };
  // the Llama-3-8B MLP's backward (up / gate: W 14336 x 4096; down: 4096 x 14336) with 16 Mi-value tiles; the
  // twin test's 9000 x 4096; a budget smaller than one quantum column; a weight narrower than one panel.
  for (Case c : {Case{14336, 4096, 1 << 24, 16, 1024}, Case{4096, 14336, 1 << 24, 16, 3584},
                 Case{9000, 4096, 1 << 24, 16, 1376}, Case{1 << 21, 64, 1 << 20, 16, 16}, Case{8, 48, 1 << 24, 16, 48}}) {
    const int64_t w = jsw::qmatmul::panel_columns(c.out, c.in, c.budget, c.quantum);
    JSW_EXPECT(w == c.want, "out %lld in %lld: width %lld, want %lld", (long long)c.out, (long long)c.in,
               (long long)w, (long long)c.want);
    JSW_EXPECT(w % c.quantum == 0 || w == c.in, "width %lld is a multiple of the quantum", (long long)w);
    JSW_EXPECT(w * c.out <= c.budget || w == c.quantum, "width %lld x out %lld fits the budget", (long long)w,
               (long long)c.out);
    const int64_t panels = (c.in + w - 1) / w, fewest = (c.in * c.out + c.budget - 1) / c.budget;
    JSW_EXPECT(w == c.quantum || panels == std::max<int64_t>(fewest, 1) || panels == fewest + 1,
               "%lld panels where the budget needs %lld", (long long)panels, (long long)fewest);
  }
}

JSW_CUDA_TEST(qmatmul_cuda_matches_cpu) {
  int d = cuda_device();
  // Small odd shapes; and weights of several panels: 16 Mi-value tiles hold 4096 rows of 4096 inputs, so
  // 4096 x 9000 (NF4) and 8192 x 4096 (GPTQ) are 2-3 panels and exercise the fp32 backward accumulation.
  std::vector<QWeight> weights;
  weights.push_back(make_nf4(19, 67, 64, false, 1));
  weights.push_back(make_nf4(37, 200, 7, true, 2));
  weights.push_back(make_nf4(9000, 4096, 64, true, 3));
  weights.push_back(make_nf4(40, 96, 32, false, 11));  // the 16-value tile kernel with a plain absmax
  weights.push_back(make_gptq(24, 40, 4, 3, 4));
  weights.push_back(make_gptq(32, 48, 2, 2, 5));
  weights.push_back(make_gptq(12, 36, 8, 5, 6));
  weights.push_back(make_gptq(8192, 4096, 4, 32, 7));
  weights.push_back(make_awq(24, 40, 8, 8));
  weights.push_back(make_awq(16, 7, 7, 9));
  weights.push_back(make_awq(8200, 4096, 128, 10));  // panels of 4096 rows: 4096 + 4096 + 8
  for (const QWeight& q : weights) {
    const bool big = q.out * q.in > (int64_t(1) << 20);
    for (int64_t rows : {1, 5, 67}) {
      if (big && rows == 67) continue;  // the host-side magnitudes below would take seconds
      for (bool trans : {false, true}) {
        float beta = rows == 5 ? 0.5f : 0.0f;
        const int64_t xcols = trans ? q.out : q.in, ycols = trans ? q.in : q.out, k = xcols;
        const std::vector<float> x32 = randn(rows * xcols, uint64_t(rows + trans));
        const std::vector<float> y032 = randn(rows * ycols, uint64_t(rows * 3 + trans));
        // sum |x w| + |beta y0| per output (from the unrounded inputs: a bound, not a reference).
        std::vector<double> mag(size_t(rows * ycols), 0.0);
        for (int64_t r = 0; r < rows; r++)
          for (int64_t j = 0; j < ycols; j++) {
            double m = std::fabs(double(beta) * y032[size_t(r * ycols + j)]);
            for (int64_t i = 0; i < k; i++)
              m += std::fabs(double(x32[size_t(r * k + i)]) *
                             (trans ? q.dense[size_t(i * q.in + j)] : q.dense[size_t(j * q.in + i)]));
            mag[size_t(r * ycols + j)] = m;
          }
        for (int dtype : {JSW_F32, JSW_BF16, JSW_F16}) {
          std::vector<float> x = round_to(x32, dtype), y0 = round_to(y032, dtype);
          std::vector<float> cpu = run(JSW_CPU, dtype, q, x, rows, trans, beta, y0);
          // NF4's backward runs over column panels, or with JSWIFT_NF4_BWD=acc over row panels and an fp32
          // accumulator (the path GPTQ and AWQ take): both are checked; so is a weight of several panels taken
          // as one tile (JSWIFT_QMATMUL_TILE=whole). (Too few rows here for the side-stream
          // pipeline: qmatmul_cuda_pipeline_matches_cpu checks it.)
          struct Variant {
            const char *name, *var, *value;
            bool applies;
          };
          for (const Variant& v : {Variant{"default", nullptr, nullptr, true},
                                   Variant{"row panels + fp32 accumulator", "JSWIFT_NF4_BWD", "acc",
                                           trans && !q.gptq && !q.awq},
                                   Variant{"the whole weight as one tile", "JSWIFT_QMATMUL_TILE", "whole", big}}) {
            if (!v.applies) continue;
            std::vector<float> gpu;
            auto run_gpu = [&] { gpu = run(d, dtype, q, x, rows, trans, beta, y0); };
            v.var != nullptr ? with_env(v.var, v.value, run_gpu) : run_gpu();
            const char* bwd = v.name;
            // The CUDA tile is rounded to dtype (as the dense path's weight is) while the CPU tile is fp32:
            // relative 2^-8 (bf16) / 2^-11 (f16) of sum |x w|, plus both outputs' storage rounding; fp32: two
            // summation orders.
            double tol = dtype == JSW_F32 ? 1e-5 : dtype == JSW_BF16 ? 1.6e-2 : 2e-3;
            for (size_t at = 0; at < cpu.size(); at++)
              JSW_EXPECT(std::fabs(double(cpu[at]) - double(gpu[at])) <= tol * (mag[at] + 1e-3),
                         "%s %lld x %lld dtype %d rows %lld trans %d (%s): y[%lld] cpu %.8g gpu %.8g",
                         format_name(q), (long long)q.out, (long long)q.in, dtype, (long long)rows, int(trans),
                         bwd, (long long)at, double(cpu[at]), double(gpu[at]));
          }
        }
      }
    }
  }
}

namespace {

// One product of the pipeline tests in bf16 on poisoned outputs: the CUDA twin against the CPU one, by default,
// with the pipeline off (JSWIFT_QMATMUL_OVERLAP=0) and, for NF4's backward, over row panels into an fp32
// accumulator (JSWIFT_NF4_BWD=acc).
void check_pipeline(int d, const QWeight& q, int64_t rows, bool trans) {
  const int64_t xcols = trans ? q.out : q.in;
  const std::vector<float> x = round_to(randn(rows * xcols, uint64_t(40 + trans)), JSW_BF16);
  const std::vector<float> y0(size_t(rows * (trans ? q.in : q.out)), 0.0f);
  const std::vector<float> cpu = run(JSW_CPU, JSW_BF16, q, x, rows, trans, 0.0f, y0);
  struct Variant {
    const char *var, *value;
    bool applies;
  };
  for (const Variant& v : {Variant{nullptr, nullptr, true}, Variant{"JSWIFT_QMATMUL_OVERLAP", "0", true},
                           Variant{"JSWIFT_NF4_BWD", "acc", trans && !q.gptq && !q.awq}}) {
    if (!v.applies) continue;
    std::vector<float> gpu;
    auto run_gpu = [&] { gpu = run(d, JSW_BF16, q, x, rows, trans, 0.0f, y0); };
    v.var != nullptr ? with_env(v.var, v.value, run_gpu) : run_gpu();
    expect_rel_norm(std::string(format_name(q)) + " " + std::to_string(q.out) + " x " + std::to_string(q.in) +
                        (trans ? " backward" : " forward") + " " +
                        (v.var ? std::string(v.var) + "=" + v.value : std::string("default")),
                    gpu, cpu, 1e-2);
  }
}

}  // namespace

// Products big enough for the CUDA pipeline (kernels/qmatmul.h: 2048 tokens x 4096 outputs are 4 panels of 2 Mi
// outputs): panels dequantized on a side stream while the previous panel's GEMM runs, in two alternating tiles;
// against the CPU twin, and with the pipeline off (JSWIFT_QMATMUL_OVERLAP=0) and, for NF4's backward, row panels
// into an fp32 accumulator. Too big for the per-element bound above (its host loop would take minutes): the
// relative norm of the difference, which a wrong or stale panel would push to O(0.1-1).
JSW_CUDA_TEST(qmatmul_cuda_pipeline_matches_cpu) {
  int d = cuda_device();
  // --cuda-as-cpu runs the test's own code at a size the CPU does in a moment (it has no pipeline)
  const int64_t rows = cuda_as_cpu ? 16 : 2048, dim = cuda_as_cpu ? 256 : 4096;
  for (const QWeight& q : {make_nf4(dim, dim, 64, true, 31), make_gptq(dim, dim, 4, 32, 32)})
    for (bool trans : {false, true}) check_pipeline(d, q, rows, trans);
}

// The pipeline on uneven products (the panel arithmetic of qmatmul.cu, checked below from kernels/qmatmul.h):
//  - GPTQ 4608 x 4096 backward: two row panels (4096 + 512 rows) accumulated in fp32, the second dequantized on
//    the side stream while the first one's GEMM runs (GPTQ has no column panels);
//  - NF4 4104 x 4112 (out % 16 = 8): the forward in 4 row panels of 1040 rows, the last one 984; the backward in
//    5 column panels of 832, the last one 784 (an odd count: the last panel in tile 0); with JSWIFT_NF4_BWD=acc
//    2 row panels (4080 + 24) accumulated with the side stream.
// --cuda-as-cpu builds the same weights but multiplies 16 rows (the CPU has no pipeline).
JSW_CUDA_TEST(qmatmul_cuda_uneven_pipeline_matches_cpu) {
  namespace qm = jsw::qmatmul;
  const int64_t gpu_rows = 2048, rows = cuda_as_cpu ? 16 : gpu_rows;
  // the shapes hit the paths named above (qmatmul.cu's cuda::qmatmul, on a GPU's row count)
  JSW_EXPECT(qm::pipeline_panels(gpu_rows * 4096) == 4, "gptq backward: %lld pipeline panels",
             (long long)qm::pipeline_panels(gpu_rows * 4096));
  JSW_EXPECT(qm::panel_rows(4608, 4096, qm::kCudaTileValues) == 4096, "gptq backward: row panels of %lld",
             (long long)qm::panel_rows(4608, 4096, qm::kCudaTileValues));
  const int64_t want = qm::pipeline_panels(gpu_rows * 4104);
  const int64_t fwd_panel = std::min(qm::panel_rows(4104, 4112, qm::kCudaTileValues),
                                     ((4104 + want - 1) / want + qm::kMinPanel - 1) / qm::kMinPanel * qm::kMinPanel);
  JSW_EXPECT(want == 4 && fwd_panel == 1040, "nf4 forward: %lld panels of %lld rows", (long long)want,
             (long long)fwd_panel);
  const int64_t bwd_width =
      qm::panel_columns(4104, 4112, std::min(qm::kCudaTileValues, 4104 * 4112 / qm::pipeline_panels(gpu_rows * 4112)),
                        16);
  JSW_EXPECT(bwd_width == 832 && (4112 + bwd_width - 1) / bwd_width == 5, "nf4 backward: column panels of %lld",
             (long long)bwd_width);
  JSW_EXPECT(qm::panel_rows(4104, 4112, qm::kCudaTileValues) == 4080, "nf4 backward acc: row panels of %lld",
             (long long)qm::panel_rows(4104, 4112, qm::kCudaTileValues));

  int d = cuda_device();
  check_pipeline(d, make_gptq(4608, 4096, 4, 32, 33), rows, true);
  const QWeight nf4 = make_nf4(4104, 4112, 64, true, 34);
  check_pipeline(d, nf4, rows, false);
  check_pipeline(d, nf4, rows, true);
}

// ---- NF4 on the tensor cores for a few rows (cuda-kernels/nf4_mma.cu) ------------------------------------------

// The split of a long input across blocks: every step in exactly one slice, no slice over the shared-memory
// budget, a full wave of blocks where the steps allow it, and no more than 8 splits unless the budget needs them.
JSW_TEST(nf4_mma_splits_cover_the_input) {
  for (int64_t steps : {1, 7, 17, 32, 112, 128, 500})
    for (int64_t columns : {1, 8, 32, 112, 1188})
      for (int64_t wave : {1, 132, 528}) {
        const int64_t max_slice = 16, splits = jsw::nf4::mma_splits(steps, columns, wave, max_slice);
        const int64_t slice = (steps + splits - 1) / splits, used = (steps + slice - 1) / slice;
        JSW_EXPECT(splits >= 1 && splits <= steps, "steps %lld: %lld splits", (long long)steps, (long long)splits);
        JSW_EXPECT(slice <= max_slice && (used - 1) * slice < steps && used * slice >= steps,
                   "steps %lld, splits %lld: slices of %lld (%lld used)", (long long)steps, (long long)splits,
                   (long long)slice, (long long)used);
        const int64_t fewest = (steps + max_slice - 1) / max_slice;
        JSW_EXPECT(splits <= std::max<int64_t>(fewest, 8), "steps %lld: %lld splits", (long long)steps,
                   (long long)splits);
        JSW_EXPECT(columns * splits >= std::min(wave, columns * std::min<int64_t>(steps, 8)),
                   "steps %lld, columns %lld, wave %lld: only %lld splits", (long long)steps, (long long)columns,
                   (long long)wave, (long long)splits);
      }
}

// 1..16 rows of bf16 / f16 against an NF4 weight take nf4_mma: against the CPU twin (its tile GEMM, fp32 weights)
// within the bound of qmatmul_cuda_matches_cpu, and against the CUDA tile GEMM (JSWIFT_NF4_MMA=off: the same
// bf16 / f16 weights, another summation order) within fp32 rounding plus one storage rounding of the output.
// Shapes: a partial tile of 8 channels and a partial block of 128; 17 steps of 128 inputs (uneven splits);
// blocksizes 32, 64, 96 (no power of two) and 256; plain and double-quantized scales; beta 0 on a poisoned y and
// 0.5; and a Llama-sized 4096 x 4096 that the GPU splits across blocks.
JSW_CUDA_TEST(nf4_matmul_cuda_few_rows_match_cpu) {
  const int d = cuda_device();
  std::vector<QWeight> weights;
  weights.push_back(make_nf4(20, 128, 64, false, 41));
  weights.push_back(make_nf4(136, 2176, 64, true, 42));
  weights.push_back(make_nf4(200, 896, 32, false, 43));
  weights.push_back(make_nf4(72, 384, 96, true, 44));
  weights.push_back(make_nf4(264, 1024, 256, false, 45));
  weights.push_back(make_nf4(4096, 4096, 64, true, 46));
  for (const QWeight& q : weights) {
    const bool big = q.out * q.in > (int64_t(1) << 22);
    for (int64_t rows : {1, 5, 9, 16}) {
      if (big && rows != 16) continue;
      const float beta = rows == 9 ? 0.5f : 0.0f;
      const std::vector<float> x32 = randn(rows * q.in, uint64_t(50 + rows)), y032 = randn(rows * q.out, 60);
      std::vector<double> want, mag;
      reference(q, round_to(x32, JSW_F32), rows, false, beta, y032, want, mag);
      for (int dtype : {JSW_BF16, JSW_F16}) {
        const std::vector<float> x = round_to(x32, dtype), y0 = round_to(y032, dtype);
        const std::vector<float> cpu = run(JSW_CPU, dtype, q, x, rows, false, beta, y0);
        const std::vector<float> mma = run(d, dtype, q, x, rows, false, beta, y0);
        std::vector<float> tile;
        with_env("JSWIFT_NF4_MMA", "off", [&] { tile = run(d, dtype, q, x, rows, false, beta, y0); });
        const double storage = dtype == JSW_BF16 ? 1.0 / 128 : 1.0 / 1024;  // an ulp apart at most
        const double loose = dtype == JSW_BF16 ? 1.6e-2 : 2e-3;
        for (size_t at = 0; at < cpu.size(); at++) {
          const double m = double(mma[at]), c = double(cpu[at]), t = double(tile[at]);
          JSW_EXPECT(std::fabs(m - c) <= loose * (mag[at] + 1e-3),
                     "nf4 %lld x %lld bs %lld dq %d dtype %d rows %lld: y[%zu] cpu %.8g, cuda %.8g",
                     (long long)q.out, (long long)q.in, (long long)q.blocksize, int(q.dq), dtype, (long long)rows,
                     at, c, m);
          JSW_EXPECT(std::fabs(m - t) <= 1e-5 * mag[at] + storage * std::fabs(t) + 1e-6,
                     "nf4 %lld x %lld bs %lld dq %d dtype %d rows %lld: y[%zu] tile GEMM %.8g, mma %.8g",
                     (long long)q.out, (long long)q.in, (long long)q.blocksize, int(q.dq), dtype, (long long)rows,
                     at, t, m);
        }
      }
    }
  }
}

// ---- GPTQ dequant-GEMV ----------------------------------------------------------------------------------------

namespace {

std::vector<float> run_gemv(int device, int dtype, const QWeight& q, const std::vector<float>& x, int64_t rows,
                            const std::vector<float>* bias) {
  Buffer xb = upload(device, dtype, x), y = poisoned(device, dtype, rows * q.out);
  Buffer bb = upload(device, dtype, bias != nullptr ? *bias : std::vector<float>{0.0f});
  Buffer qw = upload_i32(device, q.qweight), qz = upload_i32(device, q.qzeros), gi = upload_i32(device, q.g_idx);
  Buffer sc = upload(device, JSW_F16, q.scales);
  JSW_CHECK(jsw_gptq_gemv(device, dtype, xb.get(), rows, qw.as<int32_t>(), qz.as<int32_t>(), sc.as<uint16_t>(),
                          gi.as<int32_t>(), q.out, q.in, q.bits, q.groups, bias != nullptr ? bb.get() : nullptr,
                          y.get()));
  JSW_CHECK(jsw_synchronize(device));
  return download(y, dtype, rows * q.out);
}

}  // namespace

namespace {

void gemv_against_fp64() {
  // out % 8 == 4 at 8 bits (the scalar tail next to the 8-channel vectors), act-order g_idx, every width; and
  // in-order g_idx over whole 128-channel blocks (the AVX-512 decode path, which scales each group's sum once),
  // at 4 and 8 bits, with 16- and 8-channel vectors and a scalar tail after the blocks, its threads splitting
  // the groups (few blocks) or the blocks (16 and more).
  std::vector<QWeight> weights;
  weights.push_back(make_gptq(24, 40, 4, 3, 11));
  weights.push_back(make_gptq(32, 48, 2, 2, 12));
  weights.push_back(make_gptq(12, 36, 8, 5, 13));
  weights.push_back(make_gptq(200, 512, 4, 4, 14));
  weights.push_back(make_gptq(256, 512, 4, 4, 15, false));
  weights.push_back(make_gptq(284, 96, 8, 3, 16, false));
  weights.push_back(make_gptq(2064, 64, 4, 2, 17, false));  // 16 full blocks: each thread its own blocks
  weights.push_back(make_gptq(2064, 128, 4, 2, 18));        // the same split, act-order
  for (const QWeight& q : weights)
    for (int dtype : {JSW_F32, JSW_BF16, JSW_F16})
      for (int64_t rows : {1, 2, 3, 5, 8}) {
        std::vector<float> x = round_to(randn(rows * q.in, uint64_t(rows + q.in)), dtype);
        std::vector<float> bias = round_to(randn(q.out, uint64_t(rows + 3)), dtype);
        bool with_bias = rows % 2 == 1;
        std::vector<double> want, mag;
        reference(q, x, rows, false, 0.0f, {}, want, mag);
        std::vector<float> got = run_gemv(JSW_CPU, dtype, q, x, rows, with_bias ? &bias : nullptr);
        for (int64_t r = 0; r < rows; r++)
          for (int64_t c = 0; c < q.out; c++) {
            size_t at = size_t(r * q.out + c);
            double b = with_bias ? double(bias[size_t(c)]) : 0.0;
            const double bound = tolerance(dtype) * (mag[at] + std::fabs(b) + 1e-6);
            JSW_EXPECT(std::fabs(double(got[at]) - (want[at] + b)) <= bound,
                       "gptq%d %lld x %lld dtype %d rows %lld: y[%lld] = %.8g, want %.8g", q.bits, (long long)q.out,
                       (long long)q.in, dtype, (long long)rows, (long long)at, double(got[at]), want[at] + b);
          }
      }
}

}  // namespace

JSW_TEST(gptq_gemv_matches_fp64) { gemv_against_fp64(); }

// The same cases on the baseline (AVX2) build, which an AVX-512 machine would otherwise never run.
JSW_TEST(gptq_gemv_baseline_isa_matches_fp64) { with_baseline_isa(gemv_against_fp64); }

JSW_TEST(gptq_gemv_rejects_bad_arguments) {
  float x[72] = {}, y[72];
  int32_t qw[1] = {0x12345678}, qz[1] = {0x11111111}, g[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  uint16_t sc[8] = {0x3c00, 0x3c00, 0x3c00, 0x3c00, 0x3c00, 0x3c00, 0x3c00, 0x3c00};
  auto call = [&](int64_t rows, int bits, const int32_t* gi) {
    return jsw_gptq_gemv(JSW_CPU, JSW_F32, x, rows, qw, qz, sc, gi, 8, 8, bits, 1, nullptr, y);
  };
  JSW_EXPECT(call(1, 4, g) == JSW_OK, "valid call");
  JSW_EXPECT(call(8, 4, g) == JSW_OK, "8 rows");
  JSW_EXPECT(call(0, 4, g) == JSW_ERR_INVALID_ARGUMENT, "0 rows");
  JSW_EXPECT(call(9, 4, g) == JSW_ERR_INVALID_ARGUMENT, "9 rows");
  JSW_EXPECT(call(1, 5, g) == JSW_ERR_INVALID_ARGUMENT, "5 bits");
  int32_t bad[8] = {0, 0, 0, 0, 0, 0, 0, -1};
  JSW_EXPECT(call(1, 4, bad) == JSW_ERR_INVALID_ARGUMENT, "negative g_idx");
  JSW_EXPECT(jsw_gptq_gemv(JSW_CPU, JSW_F32, x, 1, qw, qz, sc, g, 8, 8, 4, 1, nullptr, nullptr) ==
                 JSW_ERR_INVALID_ARGUMENT,
             "null y");
}

namespace {

// CUDA against the CPU twin; `variant` names the 4-bit kernel JSWIFT_GPTQ_GEMV selected (the log says which).
void gptq_gemv_against_cpu(int d, const char* variant) {
  // Decode-sized layers (several input splits per channel), odd small ones, the 8-bit tail; act-order weights
  // (a packed row's inputs in several groups: the 4-bit kernel's per-weight path) and group-ordered ones (its
  // one-group path; 64 x 40 with groups of 14 inputs, so some packed rows still straddle two groups).
  std::vector<QWeight> weights;
  weights.push_back(make_gptq(4096, 4096, 4, 32, 21));
  weights.push_back(make_gptq(4096, 4096, 4, 32, 25, false));
  weights.push_back(make_gptq(1024, 11008, 2, 86, 22));
  weights.push_back(make_gptq(12, 36, 8, 5, 23));
  weights.push_back(make_gptq(24, 40, 4, 3, 24));
  weights.push_back(make_gptq(64, 40, 4, 3, 26, false));
  for (const QWeight& q : weights)
    for (int dtype : {JSW_F32, JSW_BF16, JSW_F16})
      for (int64_t rows : {1, 2, 3, 8}) {
        std::vector<float> x = round_to(randn(rows * q.in, uint64_t(rows + 5)), dtype);
        std::vector<float> bias = round_to(randn(q.out, uint64_t(rows + 9)), dtype);
        std::vector<float> cpu = run_gemv(JSW_CPU, dtype, q, x, rows, rows != 3 ? &bias : nullptr);
        std::vector<float> gpu = run_gemv(d, dtype, q, x, rows, rows != 3 ? &bias : nullptr);
        // Same weight values; two fp32 summation orders of `in` terms, then one storage rounding each.
        double tol = dtype == JSW_F32 ? 1e-4 : dtype == JSW_BF16 ? 1.6e-2 : 2e-3;
        for (size_t at = 0; at < cpu.size(); at++)
          JSW_EXPECT(std::fabs(double(cpu[at]) - double(gpu[at])) <= tol * (1.0 + std::fabs(double(cpu[at]))),
                     "%s: gptq%d %lld x %lld dtype %d rows %lld: y[%lld] cpu %.8g gpu %.8g", variant, q.bits,
                     (long long)q.out, (long long)q.in, dtype, (long long)rows, (long long)at, double(cpu[at]),
                     double(gpu[at]));
      }
}

}  // namespace

// The 4-bit kernel with a channel quad a thread (the default), then the general one (JSWIFT_GPTQ_GEMV=v1).
JSW_CUDA_TEST(gptq_gemv_cuda_matches_cpu) {
  int d = cuda_device();
  with_env("JSWIFT_GPTQ_GEMV", nullptr, [&] { gptq_gemv_against_cpu(d, "quads"); });
  with_env("JSWIFT_GPTQ_GEMV", "v1", [&] { gptq_gemv_against_cpu(d, "v1"); });
}
