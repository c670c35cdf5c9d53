// AWQ (AutoAWQ "GEMM" layout): hand-computed dequantization goldens (the nibble interleave, raw zeros along the
// output dim, group boundaries), dequantization against an independent unpacking for odd shapes and every group
// size, the fused GEMV against an fp64 product with the dequantized weight, bad arguments, and the CUDA twins
// against the CPU ones.
#include <cstring>
#include <string>

#include "test.h"

using namespace jsw_test;

namespace {

struct Packed {
  std::vector<int32_t> qweight, qzeros;
  std::vector<float> scales;  // values an f16 holds exactly
  int64_t in, out, group_size;
};

// The pack order of AutoAWQ's WQLinear_GEMM.from_linear, written out from FORMATS.md: nibble i of a word holds
// output 8j + order[i].
constexpr int kOrder[8] = {0, 2, 4, 6, 1, 3, 5, 7};

// Test-side packer: codes [out, in] and zeros [groups, out] into the [in, out / 8] / [groups, out / 8] words.
Packed pack(const std::vector<int32_t>& codes, const std::vector<int32_t>& zeros, const std::vector<float>& scales,
            int64_t in, int64_t out, int64_t gs) {
  int64_t groups = in / gs, words = out / 8;
  Packed k{std::vector<int32_t>(size_t(in * words), 0), std::vector<int32_t>(size_t(groups * words), 0), scales, in,
           out, gs};
  for (int64_t r = 0; r < in; r++)
    for (int64_t j = 0; j < words; j++)
      for (int i = 0; i < 8; i++)
        k.qweight[size_t(r * words + j)] |= int32_t(uint32_t(codes[size_t((8 * j + kOrder[i]) * in + r)]) << (4 * i));
  for (int64_t g = 0; g < groups; g++)
    for (int64_t j = 0; j < words; j++)
      for (int i = 0; i < 8; i++)
        k.qzeros[size_t(g * words + j)] |= int32_t(uint32_t(zeros[size_t(g * out + 8 * j + kOrder[i])]) << (4 * i));
  return k;
}

std::vector<float> dequantize(int device, int dtype, const Packed& k) {
  Buffer qw = upload_i32(device, k.qweight), qz = upload_i32(device, k.qzeros);
  Buffer sc = upload(device, JSW_F16, k.scales), w = poisoned(device, dtype, k.in * k.out);
  JSW_CHECK(jsw_awq_dequantize(device, dtype, qw.as<int32_t>(), qz.as<int32_t>(), sc.as<uint16_t>(), k.in, k.out,
                               k.group_size, w.get()));
  return download(w, dtype, k.in * k.out);
}

struct Random {
  std::vector<int32_t> codes, zeros;
  std::vector<float> scales;
};

Random random_codes(int64_t in, int64_t out, int64_t gs, uint64_t seed) {
  int64_t groups = in / gs;
  std::vector<float> u = uniform(in * out + groups * out * 2, seed, 0.0f, 1.0f);
  size_t at = 0;
  Random r{std::vector<int32_t>(size_t(in * out)), std::vector<int32_t>(size_t(groups * out)),
           std::vector<float>(size_t(groups * out))};
  for (auto& c : r.codes) c = std::min(15, int(u[at++] * 16.0f));
  for (auto& z : r.zeros) z = std::min(15, int(u[at++] * 16.0f));
  for (auto& s : r.scales) s = round_to({0.001f + 0.05f * u[at++]}, JSW_F16)[0];
  return r;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

std::vector<float> gemv(int device, int dtype, const Packed& k, const std::vector<float>& x, int64_t rows,
                        const std::vector<float>* bias) {
  Buffer qw = upload_i32(device, k.qweight), qz = upload_i32(device, k.qzeros);
  Buffer sc = upload(device, JSW_F16, k.scales), xb = upload(device, dtype, x);
  Buffer bb = upload(device, dtype, bias == nullptr ? std::vector<float>(1, 0.0f) : *bias);
  Buffer y = poisoned(device, dtype, rows * k.out);
  JSW_CHECK(jsw_awq_gemv(device, dtype, xb.get(), rows, k.in, qw.as<int32_t>(), qz.as<int32_t>(), sc.as<uint16_t>(),
                         k.out, k.group_size, bias == nullptr ? nullptr : bb.get(), y.get()));
  return download(y, dtype, rows * k.out);
}

// y = x W^T + b in fp64, W from the dequantization kernel (checked bit-exact against the unpacking above).
std::vector<float> gemv_reference(const Packed& k, const std::vector<float>& x, int64_t rows,
                                  const std::vector<float>* bias) {
  std::vector<float> w = dequantize(JSW_CPU, JSW_F32, k), y(size_t(rows * k.out));
  for (int64_t r = 0; r < rows; r++)
    for (int64_t o = 0; o < k.out; o++) {
      double acc = bias == nullptr ? 0.0 : double((*bias)[size_t(o)]);
      for (int64_t i = 0; i < k.in; i++) acc += double(x[size_t(r * k.in + i)]) * double(w[size_t(o * k.in + i)]);
      y[size_t(r * k.out + o)] = float(acc);
    }
  return y;
}

}  // namespace

JSW_TEST(awq_dequant_golden) {
  // in = 4, out = 8, group_size 2 (two groups). Word [0, 0] = 0x76543210: nibble i holds q = i, which is output
  // order[i], so outputs 0..7 read q = 0, 4, 1, 5, 2, 6, 3, 7. Rows 1..3 hold q = 0xF in every nibble except
  // row 2's nibble 1 (output 2) = 3. qzeros group 0 = 0x00000010: nibble 1 (output 2) has zero 1, the rest 0;
  // group 1 = 0x88888888 (zero 8 everywhere). scales: group 0 = 0.5 everywhere but output 2 = 2; group 1 = 0.25.
  Packed k{{0x76543210, -1, int32_t(0xFFFFFF3Fu), -1}, {0x00000010, int32_t(0x88888888u)},
           std::vector<float>(16, 0.5f), 4, 8, 2};
  k.scales[2] = 2.0f;
  for (int c = 8; c < 16; c++) k.scales[size_t(c)] = 0.25f;
  std::vector<float> w = dequantize(JSW_CPU, JSW_F32, k);
  const int q0[8] = {0, 4, 1, 5, 2, 6, 3, 7};
  for (int c = 0; c < 8; c++) {
    float s0 = c == 2 ? 2.0f : 0.5f;
    int z0 = c == 2 ? 1 : 0;
    float want[4] = {s0 * float(q0[c] - z0), s0 * float(15 - z0), 0.25f * float((c == 2 ? 3 : 15) - 8),
                     0.25f * float(15 - 8)};
    for (int r = 0; r < 4; r++)
      JSW_EXPECT(w[size_t(c * 4 + r)] == want[r], "W[%d, %d] = %g, want %g", c, r, double(w[size_t(c * 4 + r)]),
                 double(want[r]));
  }
  // Output 2, input 0: q = 1 (nibble 1 of 0x76543210), zero 1 -> 0; output 1: q = 4, scale 0.5 -> 2.
  JSW_EXPECT(w[8] == 0.0f && w[4] == 2.0f, "interleave: W[2, 0] = %g, W[1, 0] = %g", double(w[8]), double(w[4]));
}

JSW_TEST(awq_dequant_matches_independent_unpacking) {
  struct Shape {
    int64_t in, out, gs;
  };
  for (Shape s : {Shape{128, 24, 32}, Shape{192, 8, 64}, Shape{256, 40, 128}, Shape{96, 16, 96}, Shape{200, 72, 40}}) {
    Random r = random_codes(s.in, s.out, s.gs, uint64_t(s.in + s.out));
    Packed k = pack(r.codes, r.zeros, r.scales, s.in, s.out, s.gs);
    std::vector<float> want(size_t(s.in * s.out));
    for (int64_t c = 0; c < s.out; c++)
      for (int64_t i = 0; i < s.in; i++) {
        int64_t g = i / s.gs;
        want[size_t(c * s.in + i)] =
            r.scales[size_t(g * s.out + c)] * float(r.codes[size_t(c * s.in + i)] - r.zeros[size_t(g * s.out + c)]);
      }
    JSW_EXPECT(same_bits(dequantize(JSW_CPU, JSW_F32, k), want), "in %lld out %lld gs %lld: f32 differs",
               (long long)s.in, (long long)s.out, (long long)s.gs);
    for (int dtype : {JSW_BF16, JSW_F16})
      JSW_EXPECT(same_bits(dequantize(JSW_CPU, dtype, k), round_to(want, dtype)), "dtype %d: not the rounded f32",
                 dtype);
  }
}

namespace {

// One shape: every row count, with and without bias, every dtype, against the dequantized product.
void gemv_case(int64_t in, int64_t out, int64_t gs, uint64_t seed) {
  Random r = random_codes(in, out, gs, seed);
  Packed k = pack(r.codes, r.zeros, r.scales, in, out, gs);
  std::vector<float> bias = randn(out, seed + 3, 0.5f);
  for (int64_t rows = 1; rows <= 4; rows++) {
    std::vector<float> x = randn(rows * in, uint64_t(rows), 1.0f);
    for (bool with_bias : {false, true}) {
      const std::vector<float>* b = with_bias ? &bias : nullptr;
      // fp32 accumulation over `in` products of magnitude ~0.2 (sum ~3): a few ulp of the running sum.
      expect_close("awq gemv f32 " + std::to_string(out) + " rows " + std::to_string(rows),
                   gemv(JSW_CPU, JSW_F32, k, x, rows, b), gemv_reference(k, x, rows, b), 2e-5f, 2e-5f);
    }
    // bf16 / f16 inputs and outputs: the reference on the rounded inputs, compared at the output dtype's precision.
    for (int dtype : {JSW_BF16, JSW_F16}) {
      std::vector<float> xr = round_to(x, dtype), br = round_to(bias, dtype);
      float tol = dtype == JSW_BF16 ? 1e-2f : 2e-3f;
      expect_close("awq gemv dtype " + std::to_string(dtype), gemv(JSW_CPU, dtype, k, xr, rows, &br),
                   gemv_reference(k, xr, rows, &br), tol, tol);
    }
  }
}

void gemv_cases() {
  // out = 72 (9 words: one full 8-word tile and a 1-word tail), in = 200 with groups of 40; out = 264 (33 words:
  // two full 16-word tiles, the AVX-512 decode path's unit, and a 1-word tail), in = 256 with groups of 64: the
  // threads split the groups.
  gemv_case(200, 72, 40, 9);
  gemv_case(256, 264, 64, 19);
  // out = 2056 (257 words): 16 full tiles, enough for the threads to split the tiles rather than the groups.
  gemv_case(64, 2056, 32, 21);
}

}  // namespace

JSW_TEST(awq_gemv_matches_the_dequantized_product) { gemv_cases(); }

// The same cases on the baseline (AVX2) build, which an AVX-512 machine would otherwise never run.
JSW_TEST(awq_gemv_baseline_isa_matches_the_dequantized_product) { with_baseline_isa(gemv_cases); }

JSW_TEST(awq_bad_arguments) {
  std::vector<int32_t> qw(16, 0), qz(2, 0);
  std::vector<uint16_t> sc(16, 0x3C00);
  std::vector<float> w(128);
  auto fails = [](int status, const char* msg) {
    JSW_EXPECT(status == JSW_ERR_INVALID_ARGUMENT, "status %d for %s", status, msg);
    JSW_EXPECT(std::string(jsw_last_error()).find(msg) != std::string::npos, "message: %s", jsw_last_error());
  };
  fails(jsw_awq_dequantize(JSW_CPU, JSW_F32, qw.data(), qz.data(), sc.data(), 16, 12, 8, w.data()),
        "out = 12 is not a multiple of 8");
  fails(jsw_awq_dequantize(JSW_CPU, JSW_F32, qw.data(), qz.data(), sc.data(), 16, 8, 5, w.data()),
        "in = 16 is not a multiple of group_size = 5");
  fails(jsw_awq_dequantize(JSW_CPU, JSW_F32, qw.data(), qz.data(), sc.data(), 16, 8, 0, w.data()), "group_size");
  fails(jsw_awq_dequantize(JSW_CPU, JSW_F32, nullptr, qz.data(), sc.data(), 16, 8, 8, w.data()), "qweight");
  fails(jsw_awq_dequantize(JSW_CPU, JSW_I32, qw.data(), qz.data(), sc.data(), 16, 8, 8, w.data()), "dtype");
  std::vector<float> x(5 * 16), y(5 * 8);
  fails(jsw_awq_gemv(JSW_CPU, JSW_F32, x.data(), 5, 16, qw.data(), qz.data(), sc.data(), 8, 8, nullptr, y.data()),
        "rows = 5, but the GEMV takes at most 4 rows");
  fails(jsw_awq_gemv(JSW_CPU, JSW_F32, x.data(), 1, 16, qw.data(), qz.data(), sc.data(), 12, 8, nullptr, y.data()),
        "out = 12 is not a multiple of 8");
  fails(jsw_awq_gemv(JSW_CPU, JSW_F32, x.data(), 1, 16, qw.data(), qz.data(), sc.data(), 8, 3, nullptr, y.data()),
        "in = 16 is not a multiple of group_size = 3");
  fails(jsw_awq_gemv(JSW_CPU, JSW_F32, x.data(), 1, 16, qw.data(), nullptr, sc.data(), 8, 8, nullptr, y.data()),
        "qzeros");
}

JSW_CUDA_TEST(awq_dequant_cuda_matches_cpu) {
  int dev = cuda_device();
  // in = 200 and 8 * 9 = 72 outputs: 1800 words, no multiple of the 256-thread block; group 40 crosses words.
  for (int64_t gs : {40, 200}) {
    Random r = random_codes(200, 72, gs, uint64_t(gs));
    Packed k = pack(r.codes, r.zeros, r.scales, 200, 72, gs);
    for (int dtype : {JSW_F32, JSW_BF16, JSW_F16}) {
      std::vector<float> cpu = dequantize(JSW_CPU, dtype, k), gpu = dequantize(dev, dtype, k);
      JSW_EXPECT(same_bits(cpu, gpu), "gs %lld dtype %d: CUDA differs from the CPU", (long long)gs, dtype);
    }
  }
}

namespace {

// CUDA against the CPU twin; `variant` names the kernel JSWIFT_AWQ_GEMV selected (the log says which).
void awq_gemv_against_cpu(int dev, const std::string& variant) {
  // 9 words: the 32-word block is mostly idle columns; in = 200 is no multiple of the 8 input slices, and
  // group 40 no multiple of 16 (the split kernel's step): the v1 kernel either way.
  Random r = random_codes(200, 72, 40, 11);
  Packed k = pack(r.codes, r.zeros, r.scales, 200, 72, 40);
  std::vector<float> bias = randn(72, 5, 0.5f);
  for (int64_t rows = 1; rows <= 4; rows++) {
    std::vector<float> x = randn(rows * 200, uint64_t(10 + rows), 1.0f);
    // Same weights, different summation order: agreement to fp32 accumulation error.
    expect_close(variant + ": awq gemv cuda f32 rows " + std::to_string(rows), gemv(dev, JSW_F32, k, x, rows, &bias),
                 gemv(JSW_CPU, JSW_F32, k, x, rows, &bias), 2e-5f, 2e-5f);
    expect_close(variant + ": awq gemv cuda f32 vs fp64", gemv(dev, JSW_F32, k, x, rows, nullptr),
                 gemv_reference(k, x, rows, nullptr), 2e-5f, 2e-5f);
    for (int dtype : {JSW_BF16, JSW_F16}) {
      std::vector<float> xr = round_to(x, dtype), br = round_to(bias, dtype);
      float tol = dtype == JSW_BF16 ? 1e-2f : 2e-3f;
      expect_close(variant + ": awq gemv cuda dtype " + std::to_string(dtype), gemv(dev, dtype, k, xr, rows, &br),
                   gemv(JSW_CPU, dtype, k, xr, rows, &br), tol, tol);
    }
  }
  // More than one block of words (out = 8 * 40 = 320 outputs: 40 words over two blocks); group 64 over 128
  // inputs: the split kernel with 2 splits of one group each.
  Random big = random_codes(128, 320, 64, 12);
  Packed kb = pack(big.codes, big.zeros, big.scales, 128, 320, 64);
  std::vector<float> x = randn(3 * 128, 13, 1.0f);
  expect_close(variant + ": awq gemv cuda two blocks", gemv(dev, JSW_F32, kb, x, 3, nullptr),
               gemv_reference(kb, x, 3, nullptr), 2e-5f, 2e-5f);
  // Decode-sized: 1024 inputs in groups of 128 (splits of whole groups), 1032 outputs (129 words: a second
  // block of word columns with one live thread); group 32 (two kU steps a group).
  for (int64_t group : {128, 32}) {
    Random d = random_codes(1024, 1032, group, uint64_t(14 + group));
    Packed kd = pack(d.codes, d.zeros, d.scales, 1024, 1032, group);
    std::vector<float> bd = randn(1032, 15, 0.5f);
    for (int64_t rows : {1, 2, 3, 4}) {
      std::vector<float> xd = randn(rows * 1024, uint64_t(16 + rows), 1.0f);
      expect_close(variant + ": awq gemv cuda decode-sized f32", gemv(dev, JSW_F32, kd, xd, rows, &bd),
                   gemv(JSW_CPU, JSW_F32, kd, xd, rows, &bd), 5e-5f, 5e-5f);
      std::vector<float> xb = round_to(xd, JSW_BF16), bb = round_to(bd, JSW_BF16);
      expect_close(variant + ": awq gemv cuda decode-sized bf16", gemv(dev, JSW_BF16, kd, xb, rows, &bb),
                   gemv(JSW_CPU, JSW_BF16, kd, xb, rows, &bb), 1e-2f, 1e-2f);
    }
  }
}

}  // namespace

// The split kernel (the default where it applies), then the one-block-per-32-words kernel (JSWIFT_AWQ_GEMV=v1).
JSW_CUDA_TEST(awq_gemv_cuda_matches_cpu) {
  int dev = cuda_device();
  with_env("JSWIFT_AWQ_GEMV", nullptr, [&] { awq_gemv_against_cpu(dev, "split"); });
  with_env("JSWIFT_AWQ_GEMV", "v1", [&] { awq_gemv_against_cpu(dev, "v1"); });
}
