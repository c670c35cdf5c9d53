// The unmerged LoRA adapter's term for decode-shaped inputs on CUDA, the twin of native/src/cpu/lora_delta.cpp:
// one native call and two small kernels where QuantizedLora made two cuBLAS calls (decode is bound by the host's
// calls: ~2200 a token for a Llama-3-8B shape on the first H200 run, 448 of them these products).
//   xa_kernel:    one warp per (row, rank) dot product of length in; xa rounded to T, kept in fp32 scratch.
//   apply_kernel: one thread per (row, output): y += scale * xa[row] . B[o].
#include "common.cuh"
#include "kernels/lora.h"

namespace jsw {
namespace cuda {

namespace {

constexpr int kWarps = 8;

template <class T>
__global__ void xa_kernel(const T* __restrict__ x, int64_t rows, int64_t in, const T* __restrict__ a, int64_t rank,
                          float* __restrict__ xa) {
  const int64_t w = int64_t(blockIdx.x) * kWarps + threadIdx.x / 32;
  if (w >= rows * rank) return;
  const int64_t r = w / rank, k = w % rank;
  const T* xr = x + r * in;
  const T* ak = a + k * in;
  float s = 0.0f;
  for (int64_t i = threadIdx.x & 31; i < in; i += 32) s = fmaf(to_f(xr[i]), to_f(ak[i]), s);
  s = warp_sum(s);
  if ((threadIdx.x & 31) == 0) xa[w] = to_f(from_f<T>(s));
}

template <class T>
__global__ void apply_kernel(const float* __restrict__ xa, int64_t rows, int64_t rank, const T* __restrict__ b,
                             int64_t out, float scale, T* __restrict__ y) {
  for (int64_t t = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; t < rows * out;
       t += int64_t(gridDim.x) * blockDim.x) {
    const int64_t r = t / out, o = t % out;
    const float* xr = xa + r * rank;
    const T* bo = b + o * rank;
    float s = 0.0f;
    for (int64_t k = 0; k < rank; k++) s = fmaf(xr[k], to_f(bo[k]), s);
    y[t] = from_f<T>(to_f(y[t]) + scale * s);
  }
}

}  // namespace

void lora_delta(int device, int dtype, const void* x, int64_t rows, int64_t in, const void* a, int64_t rank,
                const void* b, int64_t out, float scale, void* y) {
  cudaStream_t s = stream(device);
  Scratch xa(device, rows * rank * int64_t(sizeof(float)));
  const unsigned xa_grid = blocks_for(rows * rank, kWarps);
  unsigned apply_grid = blocks_for(rows * out, 256);
  if (apply_grid > (1u << 20)) apply_grid = 1u << 20;
  JSW_CUDA_DISPATCH_FLOAT(dtype, "jsw_lora_delta", {
    xa_kernel<T><<<xa_grid, kWarps * 32, 0, s>>>(static_cast<const T*>(x), rows, in, static_cast<const T*>(a), rank,
                                                 xa.as<float>());
    check_launch("lora_delta xa_kernel");
    apply_kernel<T><<<apply_grid, 256, 0, s>>>(xa.as<float>(), rows, rank, static_cast<const T*>(b), out, scale,
                                               static_cast<T*>(y));
    check_launch("lora_delta apply_kernel");
  });
}

}  // namespace cuda
}  // namespace jsw
