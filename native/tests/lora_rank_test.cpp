// The fused LoRA low-rank halves (jsw_lora_down, jsw_lora_up_grad): the CPU kernels against double loops with
// jsw_dropout's own mask, against the unfused jsw_dropout + jsw_gemm sequence they replace, with NULL outputs
// and bad arguments; and the CUDA twin against the CPU over tails, ranks that take the tensor-core kernels and
// ranks or pointers that take the unfused fallback.
#include <cstdlib>
#include <tuple>

#include "test.h"

using namespace jsw_test;

namespace {

struct RankShape {
  int64_t rows, in, rank;
};

struct RankInputs {
  std::vector<float> x, a, g, da0;
};

RankInputs rank_inputs(const RankShape& s, int dtype, uint64_t seed) {
  RankInputs v;
  v.x = round_to(randn(s.rows * s.in, seed), dtype);
  v.a = round_to(randn(s.rank * s.in, seed + 1, 1.0f / std::sqrt(float(s.in))), dtype);
  v.g = round_to(randn(s.rows * s.rank, seed + 2), dtype);
  v.da0 = uniform(s.rank * s.in, seed + 3, -1, 1);  // dA accumulates: start non-zero
  return v;
}

struct RankOut {
  std::vector<float> xa, dx, da;  // da: the increment
};

// Both ops on `device`; x, dx and A are placed `offset` elements into their buffers (1: not 16-byte aligned).
RankOut run_rank(int device, int dtype, const RankShape& s, const RankInputs& v, float scale, float p, uint64_t seed,
                 int64_t offset = 0) {
  auto padded = [&](const std::vector<float>& h) {
    std::vector<float> out(size_t(offset), 0.0f);
    out.insert(out.end(), h.begin(), h.end());
    return out;
  };
  const int64_t es = dtype_bytes(dtype);
  Buffer x = upload(device, dtype, padded(v.x)), a = upload(device, dtype, padded(v.a)), g = upload(device, dtype, v.g);
  Buffer xa = poisoned(device, dtype, s.rows * s.rank), dx = poisoned(device, dtype, offset + s.rows * s.in);
  Buffer da = upload(device, JSW_F32, v.da0);
  auto at = [&](const Buffer& b) { return static_cast<void*>(b.as<char>() + offset * es); };
  JSW_CHECK(jsw_lora_down(device, dtype, at(x), at(a), s.rows, s.in, s.rank, p, seed, xa.get()));
  JSW_CHECK(jsw_lora_up_grad(device, dtype, g.get(), at(x), at(a), s.rows, s.in, s.rank, scale, p, seed, at(dx),
                             da.as<float>()));
  JSW_CHECK(jsw_synchronize(device));
  RankOut o{download(xa, dtype, s.rows * s.rank), download(dx, dtype, offset + s.rows * s.in),
            download(da, JSW_F32, s.rank * s.in)};
  o.dx.erase(o.dx.begin(), o.dx.begin() + offset);
  for (size_t i = 0; i < o.da.size(); i++) o.da[i] -= v.da0[i];
  return o;
}

// jsw_dropout's multiplier (0 or 1/(1-p)) for each of n elements: the op applied to ones.
std::vector<float> mask_of(int64_t n, float p, uint64_t seed) {
  Buffer ones = upload(JSW_CPU, JSW_F32, std::vector<float>(size_t(n), 1.0f)), m = poisoned(JSW_CPU, JSW_F32, n);
  JSW_CHECK(jsw_dropout(JSW_CPU, JSW_F32, ones.get(), n, p, seed, m.get()));
  return download(m, JSW_F32, n);
}

// Double loops over the rounded intermediates of the contract: drop(x) and scale g A rounded to the dtype.
RankOut rank_reference(int dtype, const RankShape& s, const RankInputs& v, float scale, float p, uint64_t seed) {
  std::vector<float> m = p > 0.0f ? mask_of(s.rows * s.in, p, seed) : std::vector<float>(size_t(s.rows * s.in), 1.0f);
  std::vector<float> xd(m.size());
  for (size_t i = 0; i < m.size(); i++) xd[i] = m[i] == 0.0f ? 0.0f : v.x[i] * m[i];
  xd = round_to(xd, dtype);
  RankOut r;
  r.xa.resize(size_t(s.rows * s.rank));
  std::vector<float> low(size_t(s.rows * s.in));
  for (int64_t t = 0; t < s.rows; t++) {
    for (int64_t j = 0; j < s.rank; j++) {
      double acc = 0.0;
      for (int64_t k = 0; k < s.in; k++) acc += double(xd[t * s.in + k]) * v.a[j * s.in + k];
      r.xa[t * s.rank + j] = float(acc);
    }
    for (int64_t k = 0; k < s.in; k++) {
      double acc = 0.0;
      for (int64_t j = 0; j < s.rank; j++) acc += double(v.g[t * s.rank + j]) * v.a[j * s.in + k];
      low[t * s.in + k] = float(scale * acc);
    }
  }
  r.xa = round_to(r.xa, dtype);
  low = round_to(low, dtype);
  for (size_t i = 0; i < low.size(); i++) low[i] = m[i] == 0.0f ? 0.0f : low[i] * m[i];
  r.dx = round_to(low, dtype);
  r.da.assign(size_t(s.rank * s.in), 0.0f);
  for (int64_t j = 0; j < s.rank; j++)
    for (int64_t k = 0; k < s.in; k++) {
      double acc = 0.0;
      for (int64_t t = 0; t < s.rows; t++) acc += double(v.g[t * s.rank + j]) * xd[t * s.in + k];
      r.da[j * s.in + k] = float(scale * acc);
    }
  return r;
}

void expect_rank(const std::string& tag, const RankOut& got, const RankOut& want, double tol) {
  expect_rel_norm(tag + " xa", got.xa, want.xa, tol);
  expect_rel_norm(tag + " dx", got.dx, want.dx, tol);
  expect_rel_norm(tag + " dA", got.da, want.da, tol);
}

std::string rank_tag(int dtype, const RankShape& s, float p) {
  return "dtype " + std::to_string(dtype) + " rows " + std::to_string(s.rows) + " in " + std::to_string(s.in) +
         " rank " + std::to_string(s.rank) + " p " + std::to_string(p);
}

}  // namespace

JSW_TEST(lora_rank_cpu_matches_double_reference) {
  for (int dtype : {JSW_F32, JSW_BF16, JSW_F16})
    for (const RankShape& s :
         {RankShape{1, 8, 4}, RankShape{37, 100, 16}, RankShape{130, 72, 8}, RankShape{5, 1100, 3}})
      for (float p : {0.0f, 0.1f, 0.5f}) {
        RankInputs v = rank_inputs(s, dtype, 3);
        // 16-bit: the kernel's fp32 sums may round xa or scale g A to the neighbouring value (one ulp: 2^-8 bf16).
        double tol = dtype == JSW_F32 ? 1e-5 : dtype == JSW_BF16 ? 4e-3 : 5e-4;
        expect_rank(rank_tag(dtype, s, p), run_rank(JSW_CPU, dtype, s, v, 1.5f, p, 9),
                    rank_reference(dtype, s, v, 1.5f, p, 9), tol);
      }
}

// The sequence the fused ops replace (QuantizedLora before them): jsw_dropout into a copy, then GEMMs, dx masked in
// a pass of its own. The same roundings, so only the order of fp32 sums differs.
JSW_TEST(lora_rank_cpu_matches_the_unfused_sequence) {
  const RankShape s{70, 136, 16};
  for (int dtype : {JSW_F32, JSW_BF16}) {
    RankInputs v = rank_inputs(s, dtype, 21);
    const float p = 0.2f, scale = 2.0f;
    RankOut fused = run_rank(JSW_CPU, dtype, s, v, scale, p, 4);
    Buffer x = upload(JSW_CPU, dtype, v.x), a = upload(JSW_CPU, dtype, v.a), g = upload(JSW_CPU, dtype, v.g);
    Buffer xd = poisoned(JSW_CPU, dtype, s.rows * s.in), xa = poisoned(JSW_CPU, dtype, s.rows * s.rank);
    Buffer dx = poisoned(JSW_CPU, dtype, s.rows * s.in), da = upload(JSW_CPU, JSW_F32, v.da0);
    JSW_CHECK(jsw_dropout(JSW_CPU, dtype, x.get(), s.rows * s.in, p, 4, xd.get()));
    JSW_CHECK(jsw_gemm(JSW_CPU, dtype, dtype, 0, 1, s.rows, s.rank, s.in, 1.0f, xd.get(), s.in, a.get(), s.in, 0.0f,
                       xa.get(), s.rank, 1, 0, 0, 0));
    JSW_CHECK(jsw_gemm(JSW_CPU, dtype, JSW_F32, 1, 0, s.rank, s.in, s.rows, scale, g.get(), s.rank, xd.get(), s.in,
                       1.0f, da.get(), s.in, 1, 0, 0, 0));
    JSW_CHECK(jsw_gemm(JSW_CPU, dtype, dtype, 0, 0, s.rows, s.in, s.rank, scale, g.get(), s.rank, a.get(), s.in, 0.0f,
                       dx.get(), s.in, 1, 0, 0, 0));
    JSW_CHECK(jsw_dropout(JSW_CPU, dtype, dx.get(), s.rows * s.in, p, 4, dx.get()));
    RankOut unfused{download(xa, dtype, s.rows * s.rank), download(dx, dtype, s.rows * s.in),
                    download(da, JSW_F32, s.rank * s.in)};
    for (size_t i = 0; i < unfused.da.size(); i++) unfused.da[i] -= v.da0[i];
    expect_rank("dtype " + std::to_string(dtype), fused, unfused, dtype == JSW_F32 ? 1e-6 : 3e-3);
  }
}

JSW_TEST(lora_up_grad_cpu_outputs_may_be_null) {
  const RankShape s{33, 48, 8};
  RankInputs v = rank_inputs(s, JSW_F32, 5);
  RankOut full = run_rank(JSW_CPU, JSW_F32, s, v, 1.0f, 0.25f, 6);
  Buffer x = upload(JSW_CPU, JSW_F32, v.x), a = upload(JSW_CPU, JSW_F32, v.a), g = upload(JSW_CPU, JSW_F32, v.g);
  Buffer dx = poisoned(JSW_CPU, JSW_F32, s.rows * s.in), da = upload(JSW_CPU, JSW_F32, v.da0);
  // dx alone: x may be NULL; dA alone: A may be NULL.
  JSW_CHECK(jsw_lora_up_grad(JSW_CPU, JSW_F32, g.get(), nullptr, a.get(), s.rows, s.in, s.rank, 1.0f, 0.25f, 6,
                             dx.get(), nullptr));
  expect_close("dx alone", download(dx, JSW_F32, s.rows * s.in), full.dx, 0.0f, 0.0f);
  JSW_CHECK(jsw_lora_up_grad(JSW_CPU, JSW_F32, g.get(), x.get(), nullptr, s.rows, s.in, s.rank, 1.0f, 0.25f, 6,
                             nullptr, da.as<float>()));
  std::vector<float> inc = download(da, JSW_F32, s.rank * s.in);
  for (size_t i = 0; i < inc.size(); i++) inc[i] -= v.da0[i];
  expect_close("dA alone", inc, full.da, 1e-6f, 1e-5f);
  JSW_CHECK(jsw_lora_up_grad(JSW_CPU, JSW_F32, nullptr, nullptr, nullptr, s.rows, s.in, s.rank, 1.0f, 0.25f, 6,
                             nullptr, nullptr));  // nothing asked: nothing read
}

JSW_TEST(lora_rank_rejects_bad_arguments) {
  Buffer x = zeros(JSW_CPU, JSW_F32, 64), a = zeros(JSW_CPU, JSW_F32, 64), out = zeros(JSW_CPU, JSW_F32, 64);
  int st = jsw_lora_down(JSW_CPU, JSW_F32, x.get(), a.get(), 4, 8, 2, 1.0f, 0, out.get());
  JSW_EXPECT(st == JSW_ERR_INVALID_ARGUMENT, "p = 1 rejected, got %d", st);
  st = jsw_lora_down(JSW_CPU, JSW_F32, x.get(), a.get(), 4, 8, 0, 0.0f, 0, out.get());
  JSW_EXPECT(st == JSW_ERR_INVALID_ARGUMENT, "rank 0 rejected, got %d", st);
  st = jsw_lora_down(JSW_CPU, JSW_F32, nullptr, a.get(), 4, 8, 2, 0.0f, 0, out.get());
  JSW_EXPECT(st == JSW_ERR_INVALID_ARGUMENT, "NULL x rejected, got %d", st);
  st = jsw_lora_up_grad(JSW_CPU, JSW_F32, x.get(), x.get(), a.get(), -1, 8, 2, 1.0f, 0.0f, 0, out.get(), nullptr);
  JSW_EXPECT(st == JSW_ERR_INVALID_ARGUMENT, "negative rows rejected, got %d", st);
  st = jsw_lora_up_grad(JSW_CPU, JSW_F32, x.get(), nullptr, a.get(), 4, 8, 2, 1.0f, 0.0f, 0, nullptr,
                        out.as<float>());
  JSW_EXPECT(st == JSW_ERR_INVALID_ARGUMENT, "dA without x rejected, got %d", st);
  st = jsw_lora_down(jsw_cuda_device_count(), JSW_F32, x.get(), a.get(), 4, 8, 2, 0.0f, 0, out.get());
  JSW_EXPECT(st == JSW_ERR_NO_DEVICE, "missing CUDA device gives JSW_ERR_NO_DEVICE, got %d", st);
}

// Ranks 8..64 in multiples of 8 with 16-byte rows take the tensor-core kernels (one or several splits of the
// reduction, tails in rows and columns); rank 3, rank 72 and a misaligned x take the unfused fallback.
JSW_CUDA_TEST(lora_rank_cuda_matches_cpu) {
  const RankShape shapes[] = {{1, 8, 8},       {37, 72, 16},   {64, 64, 16},  {200, 136, 24},
                              {130, 520, 32},  {2100, 264, 16}, {96, 4104, 64}, {17, 40, 3},
                              {50, 96, 72}};
  for (int dtype : {JSW_BF16, JSW_F16, JSW_F32})
    for (const RankShape& s : shapes)
      for (float p : {0.0f, 0.1f}) {
        RankInputs v = rank_inputs(s, dtype, 13);
        RankOut cpu = run_rank(JSW_CPU, dtype, s, v, 2.0f, p, 77);
        RankOut gpu = run_rank(cuda_device(), dtype, s, v, 2.0f, p, 77);
        // The same rounded drop(x) and g enter both; fp32 sums in another order may move a rounded xa or
        // scale g A to its neighbour (2^-8 bf16, 2^-11 f16).
        double tol = dtype == JSW_F32 ? 1e-5 : dtype == JSW_BF16 ? 4e-3 : 5e-4;
        expect_rank("cuda " + rank_tag(dtype, s, p), gpu, cpu, tol);
      }
  for (int64_t offset : {1, 2}) {  // x, A and dx off their 16-byte alignment (bf16: 2 and 4 bytes)
    const RankShape s{40, 64, 16};
    RankInputs v = rank_inputs(s, JSW_BF16, 8);
    expect_rank("cuda misaligned by " + std::to_string(offset),
                run_rank(cuda_device(), JSW_BF16, s, v, 1.0f, 0.1f, 3, offset),
                run_rank(JSW_CPU, JSW_BF16, s, v, 1.0f, 0.1f, 3), 4e-3);
  }
}

// JSWIFT_LORA_RANK=unfused (the switch back to jsw_dropout + cuBLAS) gives the same numbers on CUDA.
JSW_CUDA_TEST(lora_rank_cuda_unfused_switch_matches_cpu) {
  const RankShape s{300, 256, 16};
  RankInputs v = rank_inputs(s, JSW_BF16, 31);
  RankOut cpu = run_rank(JSW_CPU, JSW_BF16, s, v, 2.0f, 0.05f, 12);
  RankOut gpu;
  with_env("JSWIFT_LORA_RANK", "unfused", [&] { gpu = run_rank(cuda_device(), JSW_BF16, s, v, 2.0f, 0.05f, 12); });
  expect_rank("cuda unfused", gpu, cpu, 4e-3);
}
