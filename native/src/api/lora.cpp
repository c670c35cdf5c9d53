// C ABI: fused LoRA linear forward/backward.
#include <cmath>

#include "core/dispatch.h"
#include "kernels/lora.h"
#include "kernels/lora_rank.h"

using namespace jsw;

namespace {
void check_shapes(const char* op, int device, int dtype, int64_t tokens, int64_t in, int64_t out, int64_t rank,
                  float scale, float dropout_p) {
  require_device(device, op);
  require_float_dtype(dtype, op);
  require_non_negative(tokens, op, "tokens");
  require_positive(in, op, "in_features");
  require_positive(out, op, "out_features");
  require_positive(rank, op, "rank");
  // cuBLAS takes int dimensions, and the CPU twin keeps one layout for both devices.
  require(tokens <= INT32_MAX && in <= INT32_MAX && out <= INT32_MAX && rank <= INT32_MAX, op,
          "dimensions above 2^31 are not supported");
  require(std::isfinite(scale), op, "scale must be finite, got %g", double(scale));
  require(dropout_p >= 0.0f && dropout_p < 1.0f, op, "dropout_p must be in [0, 1), got %g", double(dropout_p));
}
}  // namespace

extern "C" int jsw_lora_fwd(int device, int dtype, const void* x, const void* w, const void* bias,
                            const void* lora_a, const void* lora_b, int64_t tokens, int64_t in_features,
                            int64_t out_features, int64_t rank, float scale, float dropout_p, uint64_t seed, void* y,
                            void* xa) {
  JSW_API_BEGIN
  const char* op = "jsw_lora_fwd";
  check_shapes(op, device, dtype, tokens, in_features, out_features, rank, scale, dropout_p);
  if (tokens == 0) return JSW_OK;
  require_ptr(x, op, "x");
  require_ptr(w, op, "w");
  require_ptr(lora_a, op, "lora_a");
  require_ptr(lora_b, op, "lora_b");
  require_ptr(y, op, "y");
  if (device == JSW_CPU) {
    JSW_CPU_RUN(cpu::lora_fwd(dtype, x, w, bias, lora_a, lora_b, tokens, in_features, out_features, rank, scale,
                dropout_p, seed, y, xa));
  } else {
    JSW_CUDA_ONLY(cuda::lora_fwd(device, dtype, x, w, bias, lora_a, lora_b, tokens, in_features, out_features, rank,
                                 scale, dropout_p, seed, y, xa));
  }
  JSW_API_END
}

extern "C" int jsw_lora_bwd(int device, int dtype, const void* dy, const void* x, const void* w, const void* lora_a,
                            const void* lora_b, const void* xa, int64_t tokens, int64_t in_features,
                            int64_t out_features, int64_t rank, float scale, float dropout_p, uint64_t seed, void* dx,
                            float* da, float* db) {
  JSW_API_BEGIN
  const char* op = "jsw_lora_bwd";
  check_shapes(op, device, dtype, tokens, in_features, out_features, rank, scale, dropout_p);
  if (tokens == 0) return JSW_OK;
  require_ptr(dy, op, "dy");
  // Each input is required by the gradient that reads it, so a frozen adapter needs no dummy buffers.
  if (dx != nullptr || da != nullptr) require_ptr(lora_b, op, "lora_b");
  if (dx != nullptr) {
    require_ptr(w, op, "w");
    require_ptr(lora_a, op, "lora_a");
  }
  if (da != nullptr) require_ptr(x, op, "x");
  if (db != nullptr) require_ptr(xa, op, "xa (from the forward)");
  if (device == JSW_CPU) {
    JSW_CPU_RUN(cpu::lora_bwd(dtype, dy, x, w, lora_a, lora_b, xa, tokens, in_features, out_features, rank, scale,
                dropout_p, seed, dx, da, db));
  } else {
    JSW_CUDA_ONLY(cuda::lora_bwd(device, dtype, dy, x, w, lora_a, lora_b, xa, tokens, in_features, out_features, rank,
                                 scale, dropout_p, seed, dx, da, db));
  }
  JSW_API_END
}

extern "C" int jsw_lora_delta(int device, int dtype, const void* x, int64_t rows, int64_t in_features,
                              const void* lora_a, int64_t rank, const void* lora_b, int64_t out_features, float scale,
                              void* y) {
  JSW_API_BEGIN
  const char* op = "jsw_lora_delta";
  check_shapes(op, device, dtype, rows, in_features, out_features, rank, scale, 0.0f);
  if (rows == 0) return JSW_OK;
  require_ptr(x, op, "x");
  require_ptr(lora_a, op, "lora_a");
  require_ptr(lora_b, op, "lora_b");
  require_ptr(y, op, "y");
  if (device == JSW_CPU) {
    JSW_CPU_RUN(cpu::lora_delta(dtype, x, rows, in_features, lora_a, rank, lora_b, out_features, scale, y));
  } else {
    JSW_CUDA_ONLY(
        cuda::lora_delta(device, dtype, x, rows, in_features, lora_a, rank, lora_b, out_features, scale, y));
  }
  JSW_API_END
}

extern "C" int jsw_lora_down(int device, int dtype, const void* x, const void* lora_a, int64_t rows,
                             int64_t in_features, int64_t rank, float dropout_p, uint64_t seed, void* xa) {
  JSW_API_BEGIN
  const char* op = "jsw_lora_down";
  check_shapes(op, device, dtype, rows, in_features, 1, rank, 1.0f, dropout_p);
  if (rows == 0) return JSW_OK;
  require_ptr(x, op, "x");
  require_ptr(lora_a, op, "lora_a");
  require_ptr(xa, op, "xa");
  if (device == JSW_CPU) {
    JSW_CPU_RUN(cpu::lora_down(dtype, x, lora_a, rows, in_features, rank, dropout_p, seed, xa));
  } else {
    JSW_CUDA_ONLY(cuda::lora_down(device, dtype, x, lora_a, rows, in_features, rank, dropout_p, seed, xa));
  }
  JSW_API_END
}

extern "C" int jsw_lora_up_grad(int device, int dtype, const void* g, const void* x, const void* lora_a,
                                int64_t rows, int64_t in_features, int64_t rank, float scale, float dropout_p,
                                uint64_t seed, void* dx, float* da) {
  JSW_API_BEGIN
  const char* op = "jsw_lora_up_grad";
  check_shapes(op, device, dtype, rows, in_features, 1, rank, scale, dropout_p);
  if (rows == 0 || (dx == nullptr && da == nullptr)) return JSW_OK;
  require_ptr(g, op, "g");
  if (dx != nullptr) require_ptr(lora_a, op, "lora_a");
  if (da != nullptr) require_ptr(x, op, "x");
  if (device == JSW_CPU) {
    JSW_CPU_RUN(cpu::lora_up_grad(dtype, g, x, lora_a, rows, in_features, rank, scale, dropout_p, seed, dx, da));
  } else {
    JSW_CUDA_ONLY(
        cuda::lora_up_grad(device, dtype, g, x, lora_a, rows, in_features, rank, scale, dropout_p, seed, dx, da));
  }
  JSW_API_END
}
