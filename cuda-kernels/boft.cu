// BOFT on CUDA, twins of native/src/cpu/boft.cpp.
// Cayley: one thread block per h x h matrix, inverted in place in the output by Gauss-Jordan (the pivot's column
// staged in shared memory, two barriers a pivot), then q = 2 (I + S)^-1 - I. Its backward: one block per matrix,
// t = dq (I + q)^T in a scratch, then dS and its skew part. A butterfly factor: one thread per output value (a row,
// a block, a column of the block) summing over the block's h gathered inputs in the CPU's order. Its gradient: one
// thread per block entry, a slice of rows per blockIdx.y, one atomicAdd per entry and slice.
#include <algorithm>

#include "common.cuh"
#include "kernels/boft.h"

namespace jsw {
namespace cuda {

namespace {
constexpr int kThreads = 256;

__global__ void cayley_kernel(const float* __restrict__ a, int64_t h, const int32_t* __restrict__ identity,
                              float* __restrict__ q) {
  extern __shared__ float col[];  // column p of the matrix before the elimination step
  const int64_t hh = h * h;
  const float* ab = a + int64_t(blockIdx.x) * hh;
  float* m = q + int64_t(blockIdx.x) * hh;
  const bool ident = identity != nullptr && identity[blockIdx.x] != 0;
  for (int64_t e = threadIdx.x; e < hh; e += blockDim.x) {
    const int64_t i = e / h, j = e % h;
    m[e] = (i == j ? 1.0f : 0.0f) + (ident ? 0.0f : 0.5f * (ab[i * h + j] - ab[j * h + i]));
  }
  if (ident) return;  // the whole block takes this branch
  __syncthreads();
  for (int64_t p = 0; p < h; p++) {
    const float piv = 1.0f / m[p * h + p];
    for (int64_t r = threadIdx.x; r < h; r += blockDim.x) col[r] = m[r * h + p];
    __syncthreads();
    for (int64_t c = threadIdx.x; c < h; c += blockDim.x) m[p * h + c] = (c == p ? 1.0f : m[p * h + c]) * piv;
    __syncthreads();
    for (int64_t e = threadIdx.x; e < hh; e += blockDim.x) {
      const int64_t r = e / h, c = e % h;
      if (r == p) continue;
      m[e] = (c == p ? 0.0f : m[e]) - col[r] * m[p * h + c];
    }
    __syncthreads();
  }
  for (int64_t e = threadIdx.x; e < hh; e += blockDim.x) {
    const int64_t i = e / h, j = e % h;
    m[e] = 2.0f * m[e] - (i == j ? 1.0f : 0.0f);
  }
}

__global__ void cayley_backward_kernel(const float* __restrict__ q, const float* __restrict__ dq, int64_t h,
                                       const int32_t* __restrict__ identity, float* __restrict__ t,
                                       float* __restrict__ da) {
  if (identity != nullptr && identity[blockIdx.x] != 0) return;
  const int64_t hh = h * h, off = int64_t(blockIdx.x) * hh;
  const float* qb = q + off;
  const float* gb = dq + off;
  float* tb = t + off;
  for (int64_t e = threadIdx.x; e < hh; e += blockDim.x) {  // t = dq (I + q)^T
    const int64_t i = e / h, j = e % h;
    float acc = 0.0f;
    for (int64_t k = 0; k < h; k++) acc += gb[i * h + k] * ((k == j ? 1.0f : 0.0f) + qb[j * h + k]);
    tb[e] = acc;
  }
  __syncthreads();
  for (int64_t e = threadIdx.x; e < hh; e += blockDim.x) {  // dS = -(I + q)^T t / 2, da += (dS - dS^T) / 2
    const int64_t i = e / h, j = e % h;
    float sij = 0.0f, sji = 0.0f;
    for (int64_t k = 0; k < h; k++) {
      sij += ((i == k ? 1.0f : 0.0f) + qb[k * h + i]) * tb[k * h + j];
      sji += ((j == k ? 1.0f : 0.0f) + qb[k * h + j]) * tb[k * h + i];
    }
    da[off + e] += 0.5f * (-0.5f * sij - -0.5f * sji);
  }
}

template <class T>
__global__ void rotate_kernel(const T* __restrict__ x, int64_t rows, int64_t n, const int32_t* __restrict__ perm_inv,
                              const float* __restrict__ q, int64_t h, bool transpose, T* __restrict__ y) {
  const int64_t total = rows * n;
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < total; e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t r = e / n, o = e % n, j = o / h, c = o % h;
    const T* xr = x + r * n;
    const float* qj = q + j * h * h;
    float acc = 0.0f;
    for (int64_t k = 0; k < h; k++) {
      const int64_t i = perm_inv != nullptr ? perm_inv[j * h + k] : j * h + k;
      acc += to_f(xr[i]) * (transpose ? qj[c * h + k] : qj[k * h + c]);
    }
    y[r * n + (perm_inv != nullptr ? perm_inv[o] : o)] = from_f<T>(acc);
  }
}

template <class T>
__global__ void rotate_grad_kernel(const T* __restrict__ x, const T* __restrict__ dy, int64_t rows, int64_t n,
                                   const int32_t* __restrict__ perm_inv, int64_t h, int64_t rows_per_slice,
                                   float* __restrict__ dq) {
  const int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (e >= n * h) return;
  const int64_t j = e / (h * h), k = (e / h) % h, c = e % h;
  const int64_t ik = perm_inv != nullptr ? perm_inv[j * h + k] : j * h + k;
  const int64_t ic = perm_inv != nullptr ? perm_inv[j * h + c] : j * h + c;
  const int64_t r0 = int64_t(blockIdx.y) * rows_per_slice, r1 = min(rows, r0 + rows_per_slice);
  float acc = 0.0f;
  for (int64_t r = r0; r < r1; r++) acc += to_f(x[r * n + ik]) * to_f(dy[r * n + ic]);
  atomicAdd(dq + e, acc);
}

unsigned grid_for(int64_t n) { return unsigned(std::min<int64_t>((n + kThreads - 1) / kThreads, 65535)); }
}  // namespace

void boft_cayley(int device, const float* a, int64_t blocks, int64_t h, const int32_t* identity, float* q) {
  cudaStream_t s = stream(device);
  const int threads = int(std::min<int64_t>(kThreads, std::max<int64_t>(32, h * h)));
  cayley_kernel<<<unsigned(blocks), threads, size_t(h) * sizeof(float), s>>>(a, h, identity, q);
  check_launch("cayley_kernel");
}

void boft_cayley_backward(int device, const float* q, const float* dq, int64_t blocks, int64_t h,
                          const int32_t* identity, float* da) {
  cudaStream_t s = stream(device);
  Scratch t(device, blocks * h * h * int64_t(sizeof(float)));
  const int threads = int(std::min<int64_t>(kThreads, std::max<int64_t>(32, h * h)));
  cayley_backward_kernel<<<unsigned(blocks), threads, 0, s>>>(q, dq, h, identity, t.as<float>(), da);
  check_launch("cayley_backward_kernel");
}

void butterfly_rotate(int device, int dtype, const void* x, int64_t rows, int64_t n, const int32_t* perm_inv,
                      const float* q, int64_t h, bool transpose, void* y) {
  cudaStream_t s = stream(device);
  JSW_CUDA_DISPATCH_FLOAT(dtype, "jsw_butterfly_rotate",
                          rotate_kernel<T><<<grid_for(rows * n), kThreads, 0, s>>>(
                              static_cast<const T*>(x), rows, n, perm_inv, q, h, transpose, static_cast<T*>(y)));
  check_launch("rotate_kernel");
}

void butterfly_rotate_grad(int device, int dtype, const void* x, const void* dy, int64_t rows, int64_t n,
                           const int32_t* perm_inv, int64_t h, float* dq) {
  cudaStream_t s = stream(device);
  const int64_t entries = n * h;
  const int64_t xblocks = (entries + kThreads - 1) / kThreads;
  // About 8 thread blocks a multiprocessor in all, each slice at least 32 rows.
  const int64_t want = std::max<int64_t>(1, int64_t(sm_count(device)) * 8 / std::max<int64_t>(xblocks, 1));
  const int64_t slices = std::min<int64_t>({want, std::max<int64_t>(1, rows / 32), 65535});
  const int64_t per = (rows + slices - 1) / slices;
  dim3 grid(unsigned(xblocks), unsigned((rows + per - 1) / per));
  JSW_CUDA_DISPATCH_FLOAT(dtype, "jsw_butterfly_rotate_grad",
                          rotate_grad_kernel<T><<<grid, kThreads, 0, s>>>(static_cast<const T*>(x),
                                                                          static_cast<const T*>(dy), rows, n,
                                                                          perm_inv, h, per, dq));
  check_launch("rotate_grad_kernel");
}

}  // namespace cuda
}  // namespace jsw
