// Fused LoRA linear on CUDA, the twin of native/src/cpu/lora.cpp: cuBLAS GEMMs (tensor cores for bf16/f16,
// fp32 accumulation, fp32 C for the accumulated dA / dB), the low-rank halves with the dropout inside
// (lora_rank.cu: the same mask as jsw_dropout, read from the device's dropout step) and the bias rows.
//   forward:  xa = drop(x) A^T;  y = bias (rows);  y = scale xa B^T + y;  y = x W^T + y
//   backward: dB += scale dy^T xa;  g = dy B;  dA += scale g^T drop(x);  dx = scale g A;  dx = drop'(dx);
//             dx = dy W + dx
// Folding the bias and the low-rank term into C before the big GEMM (beta = 1) avoids a [tokens, out] fp32
// temporary: the output is rounded once for the small terms and once for the sum.
#include "common.cuh"
#include "kernels/gemm.h"
#include "kernels/lora.h"
#include "kernels/lora_rank.h"

namespace jsw {
namespace cuda {

namespace {

constexpr int kThreads = 256;

template <class T>
__global__ void bias_rows_kernel(const T* __restrict__ bias, int64_t out, T* __restrict__ y) {
  T* row = y + int64_t(blockIdx.x) * out;
  for (int64_t j = threadIdx.x; j < out; j += blockDim.x) row[j] = bias[j];
}

// Row-major C[m, n] = alpha op(A) op(B) + beta C with dense leading dimensions.
void gemm(int device, int dtype, int c_dtype, bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha,
          const void* a, const void* b, float beta, void* c) {
  ::jsw::cuda::gemm(device, dense_gemm_args(dtype, c_dtype, ta, tb, m, n, k, alpha, a, b, beta, c));
}

}  // namespace

void lora_fwd(int device, int dtype, const void* x, const void* w, const void* bias, const void* lora_a,
              const void* lora_b, int64_t tokens, int64_t in, int64_t out, int64_t rank, float scale, float p,
              uint64_t seed, void* y, void* xa) {
  int64_t esize = dtype == JSW_F32 ? 4 : 2;
  Scratch xa_scratch(device, xa == nullptr ? tokens * rank * esize : 0);
  void* xa_out = xa != nullptr ? xa : xa_scratch.as<void>();
  lora_down(device, dtype, x, lora_a, tokens, in, rank, p, seed, xa_out);
  if (bias != nullptr) {
    cudaStream_t s = stream(device);
    JSW_CUDA_DISPATCH_FLOAT(dtype, "jsw_lora_fwd",
                            bias_rows_kernel<T><<<unsigned(tokens), kThreads, 0, s>>>(static_cast<const T*>(bias), out,
                                                                                     static_cast<T*>(y)));
    check_launch("bias_rows_kernel");
  }
  gemm(device, dtype, dtype, false, true, tokens, out, rank, scale, xa_out, lora_b, bias != nullptr ? 1.0f : 0.0f, y);
  gemm(device, dtype, dtype, false, true, tokens, out, in, 1.0f, x, w, 1.0f, y);
}

void lora_bwd(int device, int dtype, const void* dy, const void* x, const void* w, const void* lora_a,
              const void* lora_b, const void* xa, int64_t tokens, int64_t in, int64_t out, int64_t rank, float scale,
              float p, uint64_t seed, void* dx, float* da, float* db) {
  if (db != nullptr) gemm(device, dtype, JSW_F32, true, false, out, rank, tokens, scale, dy, xa, 1.0f, db);
  if (dx == nullptr && da == nullptr) return;
  int64_t esize = dtype == JSW_F32 ? 4 : 2;
  Scratch g(device, tokens * rank * esize);
  gemm(device, dtype, dtype, false, false, tokens, rank, out, 1.0f, dy, lora_b, 0.0f, g.as<void>());
  lora_up_grad(device, dtype, g.as<void>(), x, lora_a, tokens, in, rank, scale, p, seed, dx, da);
  if (dx != nullptr) gemm(device, dtype, dtype, false, false, tokens, in, out, 1.0f, dy, w, 1.0f, dx);
}

}  // namespace cuda
}  // namespace jsw
