// Fused LM head + cross-entropy on CUDA, the twin of native/src/cpu/lmhead_ce.cpp. Per chunk of rows:
//   logits (fp32) = h W^T on cuBLAS (bf16/f16 inputs on tensor cores, fp32 output),
//   one block per row: max/argmax, log-sum-exp, loss and, for the backward, dlogits = dloss * (softmax - onehot)
//   (in place for fp32; into a dtype buffer for bf16/f16, since cuBLAS needs both GEMM operands in one type),
//   dh = dlogits W (overwrites), dW += dlogits^T h (fp32 output, beta = 1).
// A label outside [0, vocab) that is not ignore_index sets kErrLabel in the device error flag and the row is
// treated as ignored (loss 0, no gradient); jsw_synchronize reports it.
#include <climits>
#include <type_traits>

#include "common.cuh"
#include "kernels/gemm.h"
#include "kernels/lmhead_ce.h"

namespace jsw {
namespace cuda {

namespace {

constexpr int kThreads = 512;
enum Mode { kForward = 0, kBackward = 1, kBoth = 2 };

struct MaxAt {
  float v;
  int32_t i;
};

// Larger value wins; equal values keep the smaller index (torch.argmax's first occurrence).
__device__ __forceinline__ MaxAt better(MaxAt a, MaxAt b) {
  return (b.v > a.v || (b.v == a.v && b.i < a.i)) ? b : a;
}

__device__ __forceinline__ MaxAt warp_argmax(MaxAt x) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    MaxAt y{__shfl_xor_sync(0xffffffffu, x.v, o), __shfl_xor_sync(0xffffffffu, x.i, o)};
    x = better(x, y);
  }
  return x;
}

// Every thread gets the block's result.
__device__ MaxAt block_argmax(MaxAt x, MaxAt* scratch) {
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  x = warp_argmax(x);
  __syncthreads();
  if (lane == 0) scratch[warp] = x;
  __syncthreads();
  int nwarps = (blockDim.x + 31) >> 5;
  x = lane < nwarps ? scratch[lane] : MaxAt{-INFINITY, INT_MAX};
  return warp_argmax(x);
}

// x and dx may alias (fp32). In the backward passes every thread rewrites only the entries it read itself, and
// the label's logit is read by all threads before the first block reduction, i.e. before any write.
template <class T, int kMode>
__global__ void ce_rows_kernel(float* x_chunk, T* dx_chunk, int64_t t0, int64_t V, const int32_t* __restrict__ labels,
                               int32_t ignore_index, const float* __restrict__ dloss, const float* __restrict__ lse_in,
                               float* __restrict__ loss, float* __restrict__ lse, int32_t* __restrict__ argmax,
                               int* err) {
  __shared__ float sum_scratch[32];
  __shared__ MaxAt max_scratch[32];
  const int64_t r = blockIdx.x, t = t0 + r;
  const float* x = x_chunk + r * V;
  T* dx = kMode == kForward ? nullptr : dx_chunk + r * V;
  const int32_t label = labels[t];
  bool skip = label == ignore_index;
  if (!skip && (label < 0 || int64_t(label) >= V)) {
    if (threadIdx.x == 0) atomicOr(err, kErrLabel);
    skip = true;
  }
  if (kMode == kBackward) {
    const float g = skip ? 0.0f : dloss[t], l = lse_in[t];
    for (int64_t j = threadIdx.x; j < V; j += blockDim.x) {
      float d = g == 0.0f ? 0.0f : g * expf(x[j] - l);
      if (j == label && !skip) d -= g;
      dx[j] = from_f<T>(d);
    }
    return;
  }
  const float target = skip ? 0.0f : x[label];
  MaxAt best{-INFINITY, INT_MAX};
  for (int64_t j = threadIdx.x; j < V; j += blockDim.x) best = better(best, MaxAt{x[j], int32_t(j)});
  best = block_argmax(best, max_scratch);
  const float m = best.v;
  float s = 0.0f;
  for (int64_t j = threadIdx.x; j < V; j += blockDim.x) s += expf(x[j] - m);
  s = block_sum(s, sum_scratch);
  const float l = m + logf(s);
  if (threadIdx.x == 0) {
    lse[t] = l;
    loss[t] = skip ? 0.0f : l - target;
    if (argmax != nullptr) argmax[t] = best.i == INT_MAX ? 0 : best.i;
  }
  if (kMode == kForward) return;
  const float g = skip ? 0.0f : dloss[t];
  for (int64_t j = threadIdx.x; j < V; j += blockDim.x) {
    float d = g == 0.0f ? 0.0f : g * expf(x[j] - l);
    if (j == label && !skip) d -= g;
    dx[j] = from_f<T>(d);
  }
}

template <class T, int kMode>
void run(int device, const LmHeadCe& a) {
  constexpr bool kF32 = std::is_same<T, float>::value;
  constexpr bool kBackwardPass = kMode != kForward;
  cudaStream_t s = stream(device);
  int* err = error_flag(device);
  const int64_t C = a.chunk_tokens, V = a.vocab, D = a.dim, esize = int64_t(sizeof(T));
  Scratch logits(device, C * V * 4);
  Scratch dlogits16(device, (!kF32 && kBackwardPass) ? C * V * esize : 0);
  float* L = logits.as<float>();
  T* dL = kF32 ? reinterpret_cast<T*>(L) : dlogits16.as<T>();
  const char* hidden = static_cast<const char*>(a.hidden);
  char* dhidden = static_cast<char*>(a.dhidden);
  for (int64_t t0 = 0; t0 < a.tokens; t0 += C) {
    const int64_t rows = std::min(C, a.tokens - t0);
    const void* h = hidden + t0 * D * esize;
    GemmArgs fwd{a.dtype, JSW_F32, false, true, rows, V, D, 1.0f, h, D, a.weight, D, 0.0f, L, V};
    gemm(device, fwd);
    ce_rows_kernel<T, kMode><<<unsigned(rows), kThreads, 0, s>>>(L, dL, t0, V, a.labels, a.ignore_index, a.dloss,
                                                                  a.lse_in, a.loss, a.lse, a.argmax, err);
    check_launch("ce_rows_kernel");
    if (!kBackwardPass) continue;
    GemmArgs dh{a.dtype, a.dtype, false, false, rows, D, V, 1.0f, dL, V, a.weight, D, 0.0f,
                dhidden + t0 * D * esize, D};
    gemm(device, dh);
    if (a.dweight != nullptr) {
      GemmArgs dw{a.dtype, JSW_F32, true, false, V, D, rows, 1.0f, dL, V, h, D, 1.0f, a.dweight, D};
      gemm(device, dw);
    }
  }
}

template <int kMode>
void dispatch(int device, const LmHeadCe& a, const char* op) {
  JSW_CUDA_DISPATCH_FLOAT(a.dtype, op, run<T, kMode>(device, a));
}

}  // namespace

void lmhead_ce_fwd(int device, const LmHeadCe& a) { dispatch<kForward>(device, a, "jsw_lmhead_ce_fwd"); }
void lmhead_ce_bwd(int device, const LmHeadCe& a) { dispatch<kBackward>(device, a, "jsw_lmhead_ce_bwd"); }
void lmhead_ce_fwd_bwd(int device, const LmHeadCe& a) { dispatch<kBoth>(device, a, "jsw_lmhead_ce_fwd_bwd"); }

}  // namespace cuda
}  // namespace jsw
