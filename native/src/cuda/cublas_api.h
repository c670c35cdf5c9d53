// The slice of the cuBLAS API jswift uses. With the real headers (a full CUDA install) they are included and
// the library is linked; otherwise these prototypes, copied from the public cuBLAS documentation's types
// and values, let the same code call functions loaded with dlopen at first GPU use (cublas_loader.cpp).
#pragma once

#include <cuda_runtime.h>
#include <library_types.h>

#ifdef JSWIFT_HAVE_CUBLAS_HEADERS
#include <cublas_v2.h>
#else
extern "C" {
typedef struct cublasContext* cublasHandle_t;
typedef enum { CUBLAS_STATUS_SUCCESS = 0 } cublasStatus_t;
typedef enum { CUBLAS_OP_N = 0, CUBLAS_OP_T = 1 } cublasOperation_t;
typedef enum {
  CUBLAS_COMPUTE_32F = 68,
  CUBLAS_COMPUTE_32F_PEDANTIC = 69,
  CUBLAS_COMPUTE_32F_FAST_TF32 = 77
} cublasComputeType_t;
typedef enum { CUBLAS_GEMM_DEFAULT = -1 } cublasGemmAlgo_t;
}
#endif

namespace jsw {
namespace cuda {

// Function table resolved from libcublas (linked or dlopen'ed).
struct Cublas {
  cublasStatus_t (*create)(cublasHandle_t*);
  cublasStatus_t (*set_stream)(cublasHandle_t, cudaStream_t);
  cublasStatus_t (*gemm_strided_batched_ex)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int,
                                            const void*, const void*, cudaDataType, int, long long int, const void*,
                                            cudaDataType, int, long long int, const void*, void*, cudaDataType, int,
                                            long long int, int, cublasComputeType_t, cublasGemmAlgo_t);
  const char* (*status_string)(cublasStatus_t);
  // Optional (null if this cuBLAS lacks it): only CUDA graph capture needs it, so its absence fails nothing else.
  cublasStatus_t (*set_workspace)(cublasHandle_t, void*, size_t);
};

// Loads cuBLAS on first use; throws a clear error naming JSWIFT_CUBLAS_PATH if it cannot be found.
const Cublas& cublas();
// The handle of a device, bound to its jswift stream.
cublasHandle_t cublas_handle(int device);

}  // namespace cuda
}  // namespace jsw
