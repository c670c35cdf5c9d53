// Embedding on CUDA, the twin of native/src/cpu/embedding.cpp.
// Ids are device data, so they are checked here: a row whose id is outside [0, vocab) becomes zeros (forward)
// or adds nothing (backward), and the kernel raises kErrEmbeddingId for jsw_synchronize to report.
// Forward: one block per token copying a row, 16 bytes per thread when the rows are 16-byte aligned.
// Backward: one block per token, fp32 atomicAdd into dtable (repeated ids are common; atomics keep it one pass).
#include <cstdint>

#include "common.cuh"
#include "kernels/embedding.h"

namespace jsw {
namespace cuda {

namespace {

constexpr int kThreads = 256;

__device__ __forceinline__ bool bad_id(int32_t id, int64_t vocab, int* flag) {
  if (id >= 0 && id < vocab) return false;
  if (threadIdx.x == 0) atomicOr(flag, kErrEmbeddingId);
  return true;
}

// V is the copy unit: the storage type itself, or uint4 when a row is a whole number of 16-byte words.
template <class V>
__global__ void embedding_fwd_kernel(const int32_t* __restrict__ ids, const V* __restrict__ table, int64_t vocab,
                                     int64_t row_units, V* __restrict__ out, int* __restrict__ flag) {
  int64_t t = blockIdx.x;
  int32_t id = ids[t];
  V* o = out + t * row_units;
  if (bad_id(id, vocab, flag)) {
    V zero;
    ::memset(&zero, 0, sizeof(V));
    for (int64_t i = threadIdx.x; i < row_units; i += blockDim.x) o[i] = zero;
    return;
  }
  const V* src = table + int64_t(id) * row_units;
  for (int64_t i = threadIdx.x; i < row_units; i += blockDim.x) o[i] = src[i];
}

template <class T>
__global__ void embedding_bwd_kernel(const int32_t* __restrict__ ids, const T* __restrict__ dout, int64_t vocab,
                                     int64_t dim, float* __restrict__ dtable, int* __restrict__ flag) {
  int64_t t = blockIdx.x;
  int32_t id = ids[t];
  if (bad_id(id, vocab, flag)) return;
  const T* g = dout + t * dim;
  float* d = dtable + int64_t(id) * dim;
  for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) atomicAdd(d + i, to_f(g[i]));
}

bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

// One thread per output element (consecutive threads read one row's columns, writes coalesced).
template <class T>
__global__ void gather_columns_kernel(const T* __restrict__ x, int64_t rows, int64_t cols,
                                      const int32_t* __restrict__ idx, int64_t n, T* __restrict__ out,
                                      int* __restrict__ flag) {
  const int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (e >= rows * n) return;
  const int64_t r = e / n, j = e % n;
  const int32_t c = idx[j];
  if (c < 0 || c >= cols) {
    atomicOr(flag, kErrGatherIndex);
    out[e] = T(0.0f);
    return;
  }
  out[e] = x[r * cols + c];
}

}  // namespace

void embedding_fwd(int device, int dtype, const int32_t* ids, int64_t tokens, const void* table, int64_t vocab,
                   int64_t dim, void* out) {
  cudaStream_t s = stream(device);
  int* flag = error_flag(device);
  JSW_CUDA_DISPATCH_FLOAT(dtype, "jsw_embedding_fwd", {
    int64_t row_bytes = dim * int64_t(sizeof(T));
    if (row_bytes % 16 == 0 && aligned16(table) && aligned16(out)) {
      int64_t units = row_bytes / 16;
      int threads = int(units < kThreads ? (units + 31) / 32 * 32 : kThreads);
      embedding_fwd_kernel<uint4><<<unsigned(tokens), threads, 0, s>>>(
          ids, static_cast<const uint4*>(table), vocab, units, static_cast<uint4*>(out), flag);
    } else {
      embedding_fwd_kernel<T><<<unsigned(tokens), kThreads, 0, s>>>(ids, static_cast<const T*>(table), vocab, dim,
                                                                   static_cast<T*>(out), flag);
    }
  });
  check_launch("embedding_fwd_kernel");
}

void embedding_bwd(int device, int dtype, const int32_t* ids, int64_t tokens, const void* dout, int64_t vocab,
                   int64_t dim, float* dtable) {
  cudaStream_t s = stream(device);
  int* flag = error_flag(device);
  JSW_CUDA_DISPATCH_FLOAT(dtype, "jsw_embedding_bwd",
                          embedding_bwd_kernel<T><<<unsigned(tokens), kThreads, 0, s>>>(
                              ids, static_cast<const T*>(dout), vocab, dim, dtable, flag));
  check_launch("embedding_bwd_kernel");
}

void gather_columns(int device, int dtype, const void* x, int64_t rows, int64_t cols, const int32_t* idx, int64_t n,
                    void* out) {
  cudaStream_t s = stream(device);
  int* flag = error_flag(device);
  const int64_t total = rows * n;
  JSW_CUDA_DISPATCH_FLOAT(dtype, "jsw_gather_columns",
                          gather_columns_kernel<T><<<blocks_for(total, kThreads), kThreads, 0, s>>>(
                              static_cast<const T*>(x), rows, cols, idx, n, static_cast<T*>(out), flag));
  check_launch("gather_columns_kernel");
}

}  // namespace cuda
}  // namespace jsw
