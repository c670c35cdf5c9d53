// C ABI: BOFT's Cayley transform and butterfly factors (contracts in jswift.h).
#include "core/dispatch.h"
#include "kernels/boft.h"

using namespace jsw;

namespace {
// A block of BOFT is at most the layer's width; 8192 covers every Hugging Face linear's input side we load.
constexpr int64_t kMaxBlock = 8192;

void require_block(int64_t h, const char* op) {
  require(h >= 1 && h <= kMaxBlock, op, "block size h must be in [1, %lld], got %lld", (long long)kMaxBlock,
          (long long)h);
}
}  // namespace

extern "C" int jsw_boft_cayley(int device, const float* a, int64_t blocks, int64_t h, const int32_t* identity,
                               float* q) {
  JSW_API_BEGIN
  const char* op = "jsw_boft_cayley";
  require_device(device, op);
  require_non_negative(blocks, op, "blocks");
  require_block(h, op);
  if (blocks == 0) return JSW_OK;
  require_ptr(a, op, "a");
  require_ptr(q, op, "q");
  require(a != q, op, "q must not overlap a");
  if (device == JSW_CPU) {
    JSW_CPU_RUN(cpu::boft_cayley(a, blocks, h, identity, q));
  } else {
    JSW_CUDA_ONLY(cuda::boft_cayley(device, a, blocks, h, identity, q));
  }
  JSW_API_END
}

extern "C" int jsw_boft_cayley_backward(int device, const float* q, const float* dq, int64_t blocks, int64_t h,
                                        const int32_t* identity, float* da) {
  JSW_API_BEGIN
  const char* op = "jsw_boft_cayley_backward";
  require_device(device, op);
  require_non_negative(blocks, op, "blocks");
  require_block(h, op);
  if (blocks == 0) return JSW_OK;
  require_ptr(q, op, "q");
  require_ptr(dq, op, "dq");
  require_ptr(da, op, "da");
  if (device == JSW_CPU) {
    JSW_CPU_RUN(cpu::boft_cayley_backward(q, dq, blocks, h, identity, da));
  } else {
    JSW_CUDA_ONLY(cuda::boft_cayley_backward(device, q, dq, blocks, h, identity, da));
  }
  JSW_API_END
}

namespace {
void require_rotation_shape(int64_t rows, int64_t n, int64_t h, const char* op) {
  require_non_negative(rows, op, "rows");
  require_positive(n, op, "n");
  require_block(h, op);
  require(n % h == 0, op, "n (%lld) must be a multiple of the block size h (%lld)", (long long)n, (long long)h);
  require(n <= INT32_MAX, op, "n above 2^31 is not supported (perm_inv is int32)");
}
}  // namespace

extern "C" int jsw_butterfly_rotate(int device, int dtype, const void* x, int64_t rows, int64_t n,
                                    const int32_t* perm_inv, const float* q, int64_t h, int transpose, void* y) {
  JSW_API_BEGIN
  const char* op = "jsw_butterfly_rotate";
  require_device(device, op);
  require_float_dtype(dtype, op);
  require_rotation_shape(rows, n, h, op);
  if (rows == 0) return JSW_OK;
  require_ptr(x, op, "x");
  require_ptr(q, op, "q");
  require_ptr(y, op, "y");
  require(x != y, op, "y must not overlap x");
  const bool tr = transpose != 0;
  if (device == JSW_CPU) {
    JSW_CPU_RUN(cpu::butterfly_rotate(dtype, x, rows, n, perm_inv, q, h, tr, y));
  } else {
    JSW_CUDA_ONLY(cuda::butterfly_rotate(device, dtype, x, rows, n, perm_inv, q, h, tr, y));
  }
  JSW_API_END
}

extern "C" int jsw_butterfly_rotate_grad(int device, int dtype, const void* x, const void* dy, int64_t rows,
                                         int64_t n, const int32_t* perm_inv, int64_t h, float* dq) {
  JSW_API_BEGIN
  const char* op = "jsw_butterfly_rotate_grad";
  require_device(device, op);
  require_float_dtype(dtype, op);
  require_rotation_shape(rows, n, h, op);
  if (rows == 0) return JSW_OK;
  require_ptr(x, op, "x");
  require_ptr(dy, op, "dy");
  require_ptr(dq, op, "dq");
  if (device == JSW_CPU) {
    JSW_CPU_RUN(cpu::butterfly_rotate_grad(dtype, x, dy, rows, n, perm_inv, h, dq));
  } else {
    JSW_CUDA_ONLY(cuda::butterfly_rotate_grad(device, dtype, x, dy, rows, n, perm_inv, h, dq));
  }
  JSW_API_END
}
