// CUDA GEMM through cuBLAS. Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T, so the operands
// swap places and keep their own transpose flags. bf16/f16 run on tensor cores with fp32 accumulation;
// fp32 uses plain fp32 (no TF32), so results match the CPU twin to fp32 rounding.
#include "cuda/cublas_api.h"
#include "cuda/runtime.h"
#include "kernels/gemm.h"

namespace jsw {
namespace cuda {

namespace {
cudaDataType to_cuda(int dtype) {
  switch (dtype) {
    case JSW_F32: return CUDA_R_32F;
    case JSW_BF16: return CUDA_R_16BF;
    case JSW_F16: return CUDA_R_16F;
    default: fail(JSW_ERR_INVALID_ARGUMENT, format("jsw_gemm: unsupported dtype %d", dtype));
  }
}
}  // namespace

void gemm(int device, const GemmArgs& g) {
  if (g.m == 0 || g.n == 0 || g.batch == 0) return;
  const Cublas& api = cublas();
  cublasHandle_t h = cublas_handle(device);
  cudaDataType ab = to_cuda(g.dtype), c = to_cuda(g.c_dtype);
  cublasStatus_t st = api.gemm_strided_batched_ex(
      h, g.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, g.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, int(g.n), int(g.m), int(g.k),
      &g.alpha, g.b, ab, int(g.ldb), g.stride_b, g.a, ab, int(g.lda), g.stride_a, &g.beta, g.c, c, int(g.ldc),
      g.stride_c, int(g.batch), g.dtype == JSW_F32 ? CUBLAS_COMPUTE_32F_PEDANTIC : CUBLAS_COMPUTE_32F,
      CUBLAS_GEMM_DEFAULT);
  if (st != CUBLAS_STATUS_SUCCESS)
    fail(JSW_ERR_CUDA, format("cublasGemmStridedBatchedEx failed (m=%lld n=%lld k=%lld): %s", (long long)g.m,
                              (long long)g.n, (long long)g.k, api.status_string(st)));
}

}  // namespace cuda
}  // namespace jsw
