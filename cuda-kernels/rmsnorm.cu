// RMSNorm on CUDA, the twin of native/src/cpu/rmsnorm.cpp.
// Forward and dx: one block per row (rows are independent; dim is at most a few thousand), fp32 block sums, in
// 16-byte vectors where dim and the pointers allow.
// dweight: a column-parallel pass (thread = column, coalesced over a row) over a slice of rows per block,
// combined with one atomicAdd per column and slice.
#include "common.cuh"
#include "kernels/rmsnorm.h"

namespace jsw {
namespace cuda {

namespace {

constexpr int kThreads = 256;

// N: values a thread takes at once, 16 / sizeof(T) (one 16-byte access; dim a multiple of N, rows aligned) or 1.
// Run 2 measured the one-value kernels at 0.67x of torch on 8192 x 4096.
template <class T, int N>
__global__ void rmsnorm_fwd_kernel(const T* __restrict__ x, const T* __restrict__ w, float eps, int64_t dim,
                                   T* __restrict__ y, float* __restrict__ rstd) {
  __shared__ float scratch[32];
  const int64_t row = blockIdx.x;
  const T* xr = x + row * dim;
  T* yr = y + row * dim;
  float ss = 0.0f;
  for (int64_t i = int64_t(threadIdx.x) * N; i < dim; i += int64_t(blockDim.x) * N) {
    Vec<T, N> a;
    a.load(xr + i);
#pragma unroll
    for (int j = 0; j < N; j++) ss += a[j] * a[j];
  }
  ss = block_sum(ss, scratch);
  float inv = 1.0f / sqrtf(ss / float(dim) + eps);
  if (rstd != nullptr && threadIdx.x == 0) rstd[row] = inv;
  for (int64_t i = int64_t(threadIdx.x) * N; i < dim; i += int64_t(blockDim.x) * N) {
    Vec<T, N> a, b, out;
    a.load(xr + i);
    b.load(w + i);
#pragma unroll
    for (int j = 0; j < N; j++) out.v[j] = from_f<T>(b[j] * (a[j] * inv));
    out.store(yr + i);
  }
}

template <class T, int N>
__global__ void rmsnorm_dx_kernel(const T* __restrict__ dy, const T* __restrict__ x, const T* __restrict__ w,
                                  const float* __restrict__ rstd, int64_t dim, T* __restrict__ dx) {
  __shared__ float scratch[32];
  const int64_t row = blockIdx.x;
  const T* xr = x + row * dim;
  const T* dyr = dy + row * dim;
  float inv = rstd[row];
  float dot = 0.0f;
  for (int64_t i = int64_t(threadIdx.x) * N; i < dim; i += int64_t(blockDim.x) * N) {
    Vec<T, N> a, b, g;
    a.load(xr + i);
    b.load(w + i);
    g.load(dyr + i);
#pragma unroll
    for (int j = 0; j < N; j++) dot += b[j] * g[j] * a[j];
  }
  dot = block_sum(dot, scratch);
  float c = dot * inv * inv * inv / float(dim);
  T* dxr = dx + row * dim;
  for (int64_t i = int64_t(threadIdx.x) * N; i < dim; i += int64_t(blockDim.x) * N) {
    Vec<T, N> a, b, g, out;
    a.load(xr + i);
    b.load(w + i);
    g.load(dyr + i);
#pragma unroll
    for (int j = 0; j < N; j++) out.v[j] = from_f<T>(inv * b[j] * g[j] - a[j] * c);
    out.store(dxr + i);
  }
}

// The 16-byte path applies: dim in whole 16-byte vectors and every row pointer 16-byte aligned.
bool vectorizable(int64_t dim, int dtype, std::initializer_list<const void*> ptrs) {
  return (dim * (dtype == JSW_F32 ? 4 : 2)) % 16 == 0 && aligned16(ptrs);
}

template <class T>
__global__ void rmsnorm_dw_kernel(const T* __restrict__ dy, const T* __restrict__ x, const float* __restrict__ rstd,
                                  int64_t rows, int64_t dim, int64_t rows_per_block, float* __restrict__ dw) {
  int64_t col = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (col >= dim) return;
  int64_t r0 = int64_t(blockIdx.y) * rows_per_block;
  int64_t r1 = min(rows, r0 + rows_per_block);
  float acc = 0.0f;
  for (int64_t r = r0; r < r1; r++) acc += to_f(dy[r * dim + col]) * to_f(x[r * dim + col]) * rstd[r];
  atomicAdd(dw + col, acc);
}

}  // namespace

void rmsnorm_fwd(int device, int dtype, const void* x, const void* weight, float eps, int64_t rows, int64_t dim,
                 void* y, float* rstd) {
  cudaStream_t s = stream(device);
  const bool vec = vectorizable(dim, dtype, {x, weight, y});
  JSW_CUDA_DISPATCH_FLOAT(dtype, "jsw_rmsnorm_fwd", {
    constexpr int kN = 16 / int(sizeof(T));
    auto kernel = vec ? rmsnorm_fwd_kernel<T, kN> : rmsnorm_fwd_kernel<T, 1>;
    kernel<<<unsigned(rows), kThreads, 0, s>>>(static_cast<const T*>(x), static_cast<const T*>(weight), eps, dim,
                                               static_cast<T*>(y), rstd);
  });
  check_launch("rmsnorm_fwd_kernel");
}

void rmsnorm_bwd(int device, int dtype, const void* dy, const void* x, const void* weight, const float* rstd,
                 int64_t rows, int64_t dim, void* dx, float* dweight) {
  cudaStream_t s = stream(device);
  const bool vec = vectorizable(dim, dtype, {dy, x, weight, dx});
  JSW_CUDA_DISPATCH_FLOAT(dtype, "jsw_rmsnorm_bwd", {
    constexpr int kN = 16 / int(sizeof(T));
    auto dx_kernel = vec ? rmsnorm_dx_kernel<T, kN> : rmsnorm_dx_kernel<T, 1>;
    dx_kernel<<<unsigned(rows), kThreads, 0, s>>>(static_cast<const T*>(dy), static_cast<const T*>(x),
                                                  static_cast<const T*>(weight), rstd, dim, static_cast<T*>(dx));
    check_launch("rmsnorm_dx_kernel");
    if (dweight != nullptr) {
      int64_t rows_per_block = 64;
      dim3 grid(blocks_for(dim, kThreads), unsigned((rows + rows_per_block - 1) / rows_per_block));
      rmsnorm_dw_kernel<T><<<grid, kThreads, 0, s>>>(static_cast<const T*>(dy), static_cast<const T*>(x), rstd,
                                                     rows, dim, rows_per_block, dweight);
      check_launch("rmsnorm_dw_kernel");
    }
  });
}

}  // namespace cuda
}  // namespace jsw
