// DoRA helpers on CUDA, twins of native/src/cpu/dora.cpp.
// Row norms: one block per row, fp32 block sum. Diagonal scaling: a grid-stride elementwise pass.
// Product column sums: thread = column (coalesced over a row), a slice of rows per blockIdx.y, one atomicAdd
// per column and slice. Dropout: a grid-stride pass over the shared hash of kernels/dropout_hash.h, in 16-byte
// vectors where the pointers allow.
#include <algorithm>

#include "common.cuh"
#include "kernels/dora.h"
#include "kernels/dropout_hash.h"

namespace jsw {
namespace cuda {

namespace {
constexpr int kThreads = 256;

template <class T>
__global__ void row_norm_kernel(const T* __restrict__ x, int64_t cols, float* __restrict__ norm,
                                float* __restrict__ inv_norm) {
  __shared__ float scratch[32];
  const T* xr = x + int64_t(blockIdx.x) * cols;
  float ss = 0.0f;
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
    float v = to_f(xr[c]);
    ss += v * v;
  }
  ss = block_sum(ss, scratch);
  if (threadIdx.x == 0) {
    float n = sqrtf(ss);
    if (norm != nullptr) norm[blockIdx.x] = n;
    if (inv_norm != nullptr) inv_norm[blockIdx.x] = 1.0f / n;
  }
}

// No __restrict__ on x / y: the op may run in place.
template <class T>
__global__ void scale_rows_cols_kernel(const T* x, int64_t rows, int64_t cols, const float* __restrict__ row_scale,
                                       const float* __restrict__ col_scale, T* y) {
  int64_t n = rows * cols;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    float v = to_f(x[i]);
    if (row_scale != nullptr) v *= row_scale[i / cols];
    if (col_scale != nullptr) v *= col_scale[i % cols];
    y[i] = from_f<T>(v);
  }
}

template <class T>
__global__ void sum_rows_mul_kernel(const T* __restrict__ a, const T* __restrict__ b, int64_t rows, int64_t cols,
                                    int64_t rows_per_block, float* __restrict__ dv) {
  int64_t c = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= cols) return;
  int64_t r0 = int64_t(blockIdx.y) * rows_per_block, r1 = min(rows, r0 + rows_per_block);
  float acc = 0.0f;
  for (int64_t r = r0; r < r1; r++) acc += to_f(a[r * cols + c]) * to_f(b[r * cols + c]);
  atomicAdd(dv + c, acc);
}

// No __restrict__: y may equal x. The key takes the device's dropout step as the kernel runs. N values a thread
// at once: 16 / sizeof(T) (one 16-byte load and store; x and y aligned) or 1 (any pointers). With N > 1 the
// elements past the last whole vector are block 0's first threads'.
template <class T>
__device__ __forceinline__ T dropped(uint64_t key, int64_t i, float p, float keep_scale, float v) {
  return dropout_keep(key, uint64_t(i), p) ? from_f<T>(v * keep_scale) : from_f<T>(0.0f);
}

template <class T, int N>
__global__ void dropout_kernel(const T* x, int64_t n, uint64_t seed, const uint64_t* step, float p,
                               float keep_scale, T* y) {
  const uint64_t key = dropout_key(seed, *step);
  const int64_t vectors = n / N;
  for (int64_t v = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; v < vectors;
       v += int64_t(gridDim.x) * blockDim.x) {
    Vec<T, N> in, out;
    in.load(x + v * N);
#pragma unroll
    for (int j = 0; j < N; j++) out.v[j] = dropped<T>(key, v * N + j, p, keep_scale, in[j]);
    out.store(y + v * N);
  }
  if (N > 1 && blockIdx.x == 0) {
    const int64_t i = vectors * N + threadIdx.x;
    if (i < n) y[i] = dropped<T>(key, i, p, keep_scale, to_f(x[i]));
  }
}

unsigned grid_for(int64_t n) {
  int64_t blocks = (n + kThreads - 1) / kThreads;
  return unsigned(blocks < 65536 ? blocks : 65536);
}
}  // namespace

void row_norm(int device, int dtype, const void* x, int64_t rows, int64_t cols, float* norm, float* inv_norm) {
  if (rows == 0) return;
  cudaStream_t s = stream(device);
  JSW_CUDA_DISPATCH_FLOAT(dtype, "jsw_row_norm",
                          row_norm_kernel<T><<<unsigned(rows), kThreads, 0, s>>>(static_cast<const T*>(x), cols,
                                                                                 norm, inv_norm));
  check_launch("row_norm_kernel");
}

void scale_rows_cols(int device, int dtype, const void* x, int64_t rows, int64_t cols, const float* row_scale,
                     const float* col_scale, void* y) {
  if (rows * cols == 0) return;
  cudaStream_t s = stream(device);
  JSW_CUDA_DISPATCH_FLOAT(dtype, "jsw_scale_rows_cols",
                          scale_rows_cols_kernel<T><<<grid_for(rows * cols), kThreads, 0, s>>>(
                              static_cast<const T*>(x), rows, cols, row_scale, col_scale, static_cast<T*>(y)));
  check_launch("scale_rows_cols_kernel");
}

void sum_rows_mul(int device, int dtype, const void* a, const void* b, int64_t rows, int64_t cols, float* dv) {
  if (rows * cols == 0) return;
  cudaStream_t s = stream(device);
  // At least 256 rows per slice, more when that would exceed gridDim.y's limit of 65535 slices.
  int64_t rows_per_block = 256;
  if ((rows + rows_per_block - 1) / rows_per_block > 65535) rows_per_block = (rows + 65534) / 65535;
  dim3 grid(blocks_for(cols, kThreads), unsigned((rows + rows_per_block - 1) / rows_per_block));
  JSW_CUDA_DISPATCH_FLOAT(dtype, "jsw_sum_rows_mul",
                          sum_rows_mul_kernel<T><<<grid, kThreads, 0, s>>>(static_cast<const T*>(a),
                                                                           static_cast<const T*>(b), rows, cols,
                                                                           rows_per_block, dv));
  check_launch("sum_rows_mul_kernel");
}

void dropout(int device, int dtype, const void* x, int64_t n, float p, uint64_t seed, void* y) {
  if (n == 0) return;
  cudaStream_t s = stream(device);
  const uint64_t* step = dropout_step(device);
  float keep_scale = 1.0f / (1.0f - p);
  const bool vec = aligned16({x, y});
  JSW_CUDA_DISPATCH_FLOAT(dtype, "jsw_dropout", {
    constexpr int kN = 16 / int(sizeof(T));
    auto kernel = vec ? dropout_kernel<T, kN> : dropout_kernel<T, 1>;
    kernel<<<grid_for(std::max<int64_t>(n / (vec ? kN : 1), 1)), kThreads, 0, s>>>(
        static_cast<const T*>(x), n, seed, step, p, keep_scale, static_cast<T*>(y));
  });
  check_launch("dropout_kernel");
}

namespace {
template <class T>
__global__ void add_uniform_noise_kernel(T* x, int64_t n, uint64_t seed, const uint64_t* step, float magnitude) {
  const uint64_t key = dropout_key(seed, *step);
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    x[i] = from_f<T>(to_f(x[i]) + uniform_noise(key, uint64_t(i), magnitude));
}
}  // namespace

void add_uniform_noise(int device, int dtype, void* x, int64_t n, float magnitude, uint64_t seed) {
  if (n == 0) return;
  cudaStream_t s = stream(device);
  const uint64_t* step = dropout_step(device);
  JSW_CUDA_DISPATCH_FLOAT(dtype, "jsw_add_uniform_noise",
                          add_uniform_noise_kernel<T><<<grid_for(n), kThreads, 0, s>>>(static_cast<T*>(x), n, seed,
                                                                                       step, magnitude));
  check_launch("add_uniform_noise_kernel");
}

namespace {
__global__ void set_step_kernel(uint64_t* step, uint64_t value) { *step = value; }
}  // namespace

// A kernel, not a copy: it is ordered with the work queued before it, needs no pinned host memory, and is captured
// like any op.
void set_dropout_step(int device, uint64_t step) {
  set_step_kernel<<<1, 1, 0, stream(device)>>>(dropout_step(device), step);
  check_launch("set_step_kernel");
}

}  // namespace cuda
}  // namespace jsw
