// Min-max group quantization on CUDA, the twin of native/src/cpu/minmax_quant.cpp. The per-group parameters and
// the per-value codes are kernels/minmax_quant.h's inline functions, the same single IEEE operations the CPU runs
// (no product feeds a sum, so FMA contraction cannot apply; nvcc divides IEEE-exactly without fast math), and the
// stochastic draws hash (seed, element index), so both twins write the same bytes.
//  - group parameters: one block per group (grid-stride), exact block min / max;
//  - encode: one thread per output byte (two values at 4 bits), grid-stride;
//  - decode: one thread per value, grid-stride.
#include "common.cuh"
#include "kernels/minmax_quant.h"

namespace jsw {
namespace cuda {

namespace {

constexpr int kThreads = 256;
constexpr unsigned kMaxGrid = 1u << 20;

unsigned grid_for(int64_t items, int threads) {
  unsigned g = blocks_for(items, threads);
  return g < kMaxGrid ? g : kMaxGrid;
}

template <class T>
__global__ void group_params_kernel(const T* __restrict__ x, int64_t n, int64_t group_size, int qmax,
                                    float* __restrict__ scales, float* __restrict__ zeros) {
  __shared__ float scratch[32];
  int64_t groups = (n + group_size - 1) / group_size;
  for (int64_t g = blockIdx.x; g < groups; g += gridDim.x) {
    int64_t lo = g * group_size, hi = min(n, lo + group_size);
    float mx = -INFINITY, negmn = -INFINITY;
    for (int64_t i = lo + threadIdx.x; i < hi; i += blockDim.x) {
      float v = to_f(x[i]);
      mx = fmaxf(mx, v);
      negmn = fmaxf(negmn, -v);
    }
    mx = block_max(mx, scratch);
    negmn = block_max(negmn, scratch);  // block_max syncs before reusing scratch
    if (threadIdx.x == 0) mmq::group_params(-negmn, mx, qmax, &scales[g], &zeros[g]);
  }
}

template <class T>
__global__ void encode_kernel(const T* __restrict__ x, int64_t n, int64_t group_size, int bits, bool stochastic,
                              uint64_t key, const float* __restrict__ scales, const float* __restrict__ zeros,
                              uint8_t* __restrict__ codes) {
  int qmax = (1 << bits) - 1;
  int64_t items = bits == 8 ? n : (n + 1) / 2;
  for (int64_t k = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; k < items; k += int64_t(gridDim.x) * blockDim.x) {
    if (bits == 8) {
      int64_t g = k / group_size;
      codes[k] = mmq::encode(to_f(x[k]), scales[g], zeros[g], qmax, stochastic, key, uint64_t(k));
      continue;
    }
    int64_t i = 2 * k, g = i / group_size;
    int high = mmq::encode(to_f(x[i]), scales[g], zeros[g], qmax, stochastic, key, uint64_t(i));
    int low = 0;
    if (i + 1 < n) {
      int64_t g1 = (i + 1) / group_size;
      low = mmq::encode(to_f(x[i + 1]), scales[g1], zeros[g1], qmax, stochastic, key, uint64_t(i + 1));
    }
    codes[k] = uint8_t((high << 4) | low);
  }
}

template <class T>
__global__ void decode_kernel(const uint8_t* __restrict__ codes, const float* __restrict__ scales,
                              const float* __restrict__ zeros, int64_t n, int64_t group_size, int bits,
                              T* __restrict__ out) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    int code = bits == 8 ? codes[i] : (i % 2 == 0 ? codes[i / 2] >> 4 : codes[i / 2] & 15);
    int64_t g = i / group_size;
    out[i] = from_f<T>(mmq::decode(code, scales[g], zeros[g]));
  }
}

}  // namespace

void minmax_quantize(int device, int dtype, const void* x, int64_t n, int64_t group_size, int bits, bool stochastic,
                     uint64_t seed, uint8_t* codes, float* scales, float* zeros) {
  cudaStream_t s = stream(device);
  int64_t groups = (n + group_size - 1) / group_size;
  int64_t items = bits == 8 ? n : (n + 1) / 2;
  uint64_t key = mmq::sr_key(seed);
  JSW_CUDA_DISPATCH_FLOAT(dtype, "jsw_minmax_quantize", {
    group_params_kernel<T><<<grid_for(groups, 1), kThreads, 0, s>>>(static_cast<const T*>(x), n, group_size,
                                                                    (1 << bits) - 1, scales, zeros);
    check_launch("group_params_kernel");
    encode_kernel<T><<<grid_for(items, kThreads), kThreads, 0, s>>>(static_cast<const T*>(x), n, group_size, bits,
                                                                    stochastic, key, scales, zeros, codes);
    check_launch("encode_kernel");
  });
}

void minmax_dequantize(int device, int dtype, const uint8_t* codes, const float* scales, const float* zeros,
                       int64_t n, int64_t group_size, int bits, void* out) {
  cudaStream_t s = stream(device);
  JSW_CUDA_DISPATCH_FLOAT(dtype, "jsw_minmax_dequantize", {
    decode_kernel<T><<<grid_for(n, kThreads), kThreads, 0, s>>>(codes, scales, zeros, n, group_size, bits,
                                                                static_cast<T*>(out));
    check_launch("decode_kernel");
  });
}

}  // namespace cuda
}  // namespace jsw
