// NF4 dequant-GEMV: the CPU twin against an fp64 dequantize-then-matmul built here from the codebook and the
// bytes (odd in, rows 1..8, double quantization, bias, every dtype), argument checks, and the CUDA twin against
// the CPU one.
#include <cmath>

#include "test.h"

using namespace jsw_test;

namespace {

struct Problem {
  int64_t rows, in, out, blocksize;
  std::vector<float> x, bias;
  std::vector<uint8_t> packed, absmax_q;
  std::vector<float> absmax, nested;  // absmax: the fp32 scales the weight decodes with (recovered ones with dq)
  float offset = 0.0f;
};

Problem make(int dtype, int64_t rows, int64_t in, int64_t out, int64_t blocksize, bool dq, uint64_t seed) {
  Problem p{rows, in, out, blocksize, {}, {}, {}, {}, {}, {}};
  int64_t n = in * out, blocks = (n + blocksize - 1) / blocksize;
  p.x = round_to(randn(rows * in, seed), dtype);
  p.bias = round_to(randn(out, seed + 1), dtype);
  std::vector<float> w = randn(n, seed + 2, 0.05f);
  p.packed.resize(size_t((n + 1) / 2));
  p.absmax.resize(size_t(blocks));
  JSW_CHECK(jsw_nf4_quantize(JSW_CPU, JSW_F32, w.data(), n, blocksize, p.packed.data(), p.absmax.data()));
  if (dq) {
    int64_t groups = (blocks + 255) / 256;
    p.absmax_q.resize(size_t(blocks));
    p.nested.resize(size_t(groups));
    JSW_CHECK(jsw_quantize_absmax_8bit(JSW_CPU, p.absmax.data(), blocks, p.absmax_q.data(), p.nested.data(),
                                       &p.offset));
    std::vector<float> code(256);
    JSW_CHECK(jsw_dynamic_map_signed(code.data()));
    for (int64_t b = 0; b < blocks; b++)
      p.absmax[size_t(b)] = code[p.absmax_q[size_t(b)]] * p.nested[size_t(b / 256)] + p.offset;
  }
  return p;
}

// fp64 reference: dequantize element by element, then a plain dot product.
std::vector<double> reference(const Problem& p, bool with_bias) {
  std::vector<float> code(16);
  JSW_CHECK(jsw_nf4_codebook(code.data()));
  std::vector<double> y(size_t(p.rows * p.out), 0.0);
  for (int64_t o = 0; o < p.out; o++) {
    for (int64_t r = 0; r < p.rows; r++) {
      double s = with_bias ? double(p.bias[size_t(o)]) : 0.0;
      for (int64_t i = 0; i < p.in; i++) {
        int64_t e = o * p.in + i;
        int nib = e % 2 == 0 ? p.packed[size_t(e / 2)] >> 4 : p.packed[size_t(e / 2)] & 15;
        s += double(p.x[size_t(r * p.in + i)]) * double(code[nib]) * double(p.absmax[size_t(e / p.blocksize)]);
      }
      y[size_t(r * p.out + o)] = s;
    }
  }
  return y;
}

std::vector<float> run(int device, int dtype, const Problem& p, bool dq, bool with_bias) {
  Buffer x = upload(device, dtype, p.x), packed = upload_u8(device, p.packed), bias = upload(device, dtype, p.bias);
  Buffer y = poisoned(device, dtype, p.rows * p.out);
  Buffer absmax = upload(device, JSW_F32, p.absmax);
  std::vector<float> code(256);
  JSW_CHECK(jsw_dynamic_map_signed(code.data()));
  Buffer q = upload_u8(device, dq ? p.absmax_q : std::vector<uint8_t>{0});
  Buffer nested = upload(device, JSW_F32, dq ? p.nested : std::vector<float>{0.0f});
  Buffer c = upload(device, JSW_F32, code);
  JSW_CHECK(jsw_nf4_gemv(device, dtype, x.get(), p.rows, p.in, packed.as<uint8_t>(),
                         dq ? nullptr : absmax.as<float>(), dq ? q.as<uint8_t>() : nullptr,
                         dq ? nested.as<float>() : nullptr, dq ? c.as<float>() : nullptr, p.offset, p.out,
                         p.blocksize, with_bias ? bias.get() : nullptr, y.get()));
  JSW_CHECK(jsw_synchronize(device));
  return download(y, dtype, p.rows * p.out);
}

// |y - ref| <= tol * (sum_i |x_i w_i| + |bias|): fp32 accumulation of `in` terms (plus the store rounding of
// bf16/f16 outputs: 2^-8 / 2^-11 relative).
double tolerance(int dtype) { return dtype == JSW_F32 ? 1e-5 : dtype == JSW_BF16 ? 8e-3 : 1e-3; }

}  // namespace

namespace {

void against_fp64_reference() {
  struct Shape {
    int64_t in, out, blocksize;
  };
  // 64-multiples (both fast paths), odd in (rows straddle bytes and blocks), a blocksize not dividing in, tiny
  // ones, 16-multiples that only the AVX2 fast path takes, and 32-value blocks (the AVX-512 path's single-group
  // remainder step).
  for (Shape s : {Shape{128, 33, 64}, Shape{67, 19, 64}, Shape{1, 5, 64}, Shape{200, 7, 7}, Shape{96, 50, 16},
                  Shape{160, 9, 32}}) {
    for (int dtype : {JSW_F32, JSW_BF16, JSW_F16}) {
      for (int64_t rows : {1, 2, 3, 4, 8}) {
        for (bool dq : {false, true}) {
          bool with_bias = rows % 2 == 1;
          Problem p = make(dtype, rows, s.in, s.out, s.blocksize, dq, uint64_t(s.in * 31 + rows + dq));
          std::vector<double> want = reference(p, with_bias);
          std::vector<float> got = run(JSW_CPU, dtype, p, dq, with_bias);
          for (int64_t k = 0; k < rows * s.out; k++) {
            double scale = 1.0 + std::fabs(want[size_t(k)]) + std::sqrt(double(s.in)) * 0.05;
            JSW_EXPECT(std::fabs(double(got[size_t(k)]) - want[size_t(k)]) <= tolerance(dtype) * scale,
                       "in %lld out %lld bs %lld dtype %d rows %lld dq %d: y[%lld] %.8g want %.8g", (long long)s.in,
                       (long long)s.out, (long long)s.blocksize, dtype, (long long)rows, int(dq), (long long)k,
                       double(got[size_t(k)]), want[size_t(k)]);
          }
        }
      }
    }
  }
}

}  // namespace

JSW_TEST(nf4_gemv_matches_fp64_dequant_matmul) { against_fp64_reference(); }

// The same cases on the baseline (AVX2) build, which an AVX-512 machine would otherwise never run.
JSW_TEST(nf4_gemv_baseline_isa_matches_fp64_dequant_matmul) { with_baseline_isa(against_fp64_reference); }

JSW_TEST(nf4_gemv_rejects_bad_arguments) {
  float x[4] = {1, 2, 3, 4}, absmax[1] = {1}, y[8];
  uint8_t packed[4] = {0x12, 0x34, 0x56, 0x78}, q[1] = {3};
  auto call = [&](int dtype, int64_t rows, int64_t in, const float* a, const uint8_t* aq, const float* nested,
                  int64_t blocksize) {
    return jsw_nf4_gemv(JSW_CPU, dtype, x, rows, in, packed, a, aq, nested, nested, 0.0f, 2, blocksize, nullptr, y);
  };
  JSW_EXPECT(call(JSW_F32, 1, 4, absmax, nullptr, nullptr, 64) == JSW_OK, "valid call");
  JSW_EXPECT(call(JSW_F32, 0, 4, absmax, nullptr, nullptr, 64) == JSW_ERR_INVALID_ARGUMENT, "rows 0");
  JSW_EXPECT(call(JSW_F32, 9, 4, absmax, nullptr, nullptr, 64) == JSW_ERR_INVALID_ARGUMENT, "rows 9");
  JSW_EXPECT(call(JSW_F32, 1, 0, absmax, nullptr, nullptr, 64) == JSW_ERR_INVALID_ARGUMENT, "in 0");
  JSW_EXPECT(call(JSW_F32, 1, 4, absmax, nullptr, nullptr, 0) == JSW_ERR_INVALID_ARGUMENT, "blocksize 0");
  JSW_EXPECT(call(JSW_U8, 1, 4, absmax, nullptr, nullptr, 64) == JSW_ERR_INVALID_ARGUMENT, "u8 dtype");
  JSW_EXPECT(call(JSW_F32, 1, 4, nullptr, nullptr, nullptr, 64) == JSW_ERR_INVALID_ARGUMENT, "no scales");
  JSW_EXPECT(call(JSW_F32, 1, 4, absmax, q, absmax, 64) == JSW_ERR_INVALID_ARGUMENT, "both scale kinds");
  JSW_EXPECT(call(JSW_F32, 1, 4, nullptr, q, nullptr, 64) == JSW_ERR_INVALID_ARGUMENT, "dq without nested");
  JSW_EXPECT(jsw_nf4_gemv(JSW_CPU, JSW_F32, x, 1, 4, packed, absmax, nullptr, nullptr, nullptr, 0.0f, 2, 64, nullptr,
                          nullptr) == JSW_ERR_INVALID_ARGUMENT,
             "null y");
}

namespace {

// CUDA against the CPU twin; `variant` names the 32-value kernel JSWIFT_NF4_GEMV selected (the log says which).
void cuda_matches_cpu(int d, const char* variant) {
  struct Shape {
    int64_t in, out, blocksize;
  };
  // 896 / 4864: the 32-value path at decode sizes (896: fewer 32-value words than lanes; 4864: a partial unrolled
  // step); 512 with blocksize 96 (a multiple of 32, no power of two: the scale's block by division, not a shift)
  // and out 37, and 1024 / 32 with out 61 (out % 8 != 0: the last block's warps partly past out): the 32-value path
  // too; 1056 x 4200: more rows than an H100 / H200 holds warps at once, so some of the streamed kernel's warps
  // take 2 rows, of 33 words (a second step with one live lane); 912 with blocksize 16: the 16-value path; 67 and
  // blocksize 7: the general one.
  for (Shape s : {Shape{896, 4864, 64}, Shape{4864, 96, 64}, Shape{512, 37, 96}, Shape{1024, 61, 32},
                  Shape{1056, 4200, 32}, Shape{912, 40, 16}, Shape{67, 19, 64}, Shape{200, 37, 7}}) {
    for (int dtype : {JSW_F32, JSW_BF16, JSW_F16}) {
      // the 32-value path's row counts R = 1, 2, 4 (3 and 4 rows: partly and fully live), 8 (5 and 8 rows)
      for (int64_t rows : {1, 2, 3, 4, 5, 8}) {
        for (bool dq : {false, true}) {
          Problem p = make(dtype, rows, s.in, s.out, s.blocksize, dq, uint64_t(s.out + rows));
          std::vector<float> cpu = run(JSW_CPU, dtype, p, dq, rows != 3);
          std::vector<float> gpu = run(d, dtype, p, dq, rows != 3);
          // Two fp32 summation orders of `in` terms, then the same storage rounding (one ulp of bf16/f16 apart).
          double tol = dtype == JSW_F32 ? 1e-4 : dtype == JSW_BF16 ? 1.6e-2 : 2e-3;
          for (int64_t k = 0; k < rows * s.out; k++)
            JSW_EXPECT(std::fabs(double(cpu[size_t(k)]) - double(gpu[size_t(k)])) <=
                           tol * (1.0 + std::fabs(double(cpu[size_t(k)]))),
                       "%s: in %lld out %lld dtype %d rows %lld dq %d: y[%lld] cpu %.8g gpu %.8g", variant,
                       (long long)s.in, (long long)s.out, dtype, (long long)rows, int(dq), (long long)k,
                       double(cpu[size_t(k)]), double(gpu[size_t(k)]));
        }
      }
    }
  }
}

}  // namespace

// The streamed 32-value kernel (the default), then the one-row-a-warp kernel it replaced (JSWIFT_NF4_GEMV=v2).
JSW_CUDA_TEST(nf4_gemv_cuda_matches_cpu) {
  int d = cuda_device();
  with_env("JSWIFT_NF4_GEMV", nullptr, [&] { cuda_matches_cpu(d, "streamed"); });
  with_env("JSWIFT_NF4_GEMV", "v2", [&] { cuda_matches_cpu(d, "v2"); });
}
