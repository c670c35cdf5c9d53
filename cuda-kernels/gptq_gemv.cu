// GPTQ dequant-GEMV on CUDA, the twin of native/src/cpu/gptq_gemv.cpp. qweight [in / p, out] has consecutive
// output channels side by side, so threads on consecutive channels make every packed-row read a coalesced warp
// load; x (rows * in values, a few KB) is read at the same address by a whole warp (a broadcast). A decode GEMV
// has few channels per thread block to spread, so the input dim is split too (grid.y): each split writes fp32
// partial sums [split, rows, out] and sum_splits adds them in split order with the bias: deterministic.
// Two partial kernels: gptq_gemv4 for 4 bits (below), the general one for every width (JSWIFT_GPTQ_GEMV=v1
// takes it for 4 bits too, the benchmark's before / after).
#include <algorithm>

#include "common.cuh"
#include "kernels/gptq.h"
#include "split_sum.cuh"
#include "kernels/qmatmul.h"

namespace jsw {
namespace cuda {

namespace {

constexpr int kThreads = 128;
constexpr int kRows = int(qmatmul::kGptqGemvMaxRows);

template <class T>
__global__ void gptq_gemv_partial_kernel(const T* __restrict__ x, int rows, const int32_t* __restrict__ qweight,
                                         const int32_t* __restrict__ qzeros, const __half* __restrict__ scales,
                                         const int32_t* __restrict__ g_idx, int64_t out, int64_t in, int bits,
                                         int64_t groups, int64_t words_per_split, float* __restrict__ partial) {
  const int64_t c = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= out) return;  // no barrier below
  const int p = 32 / bits;
  const unsigned mask = (1u << bits) - 1u;
  const int64_t words_per_col = in / p, zero_words = out / p;
  const int64_t r0 = int64_t(blockIdx.y) * words_per_split;
  const int64_t r1 = r0 + words_per_split < words_per_col ? r0 + words_per_split : words_per_col;
  const int zshift = int(c % p) * bits;
  float acc[kRows];
#pragma unroll
  for (int r = 0; r < kRows; r++) acc[r] = 0.0f;
  for (int64_t r = r0; r < r1; r++) {
    const unsigned word = unsigned(qweight[r * out + c]);
    for (int j = 0; j < p; j++) {
      const int64_t k = r * p + j;
      const int64_t g = g_idx[k];
      float w;
      if (g < 0 || g >= groups) {
        w = __int_as_float(0x7fc00000);  // as the dequantization: a bad group poisons, it cannot be reported
      } else {
        const int z = int(((unsigned(qzeros[g * zero_words + c / p]) >> zshift) + 1u) & mask);
        w = __fmul_rn(__half2float(scales[g * out + c]), float(int((word >> (bits * j)) & mask) - z));
      }
#pragma unroll
      for (int r2 = 0; r2 < kRows; r2++)
        if (r2 < rows) acc[r2] = fmaf(to_f(x[int64_t(r2) * in + k]), w, acc[r2]);
    }
  }
  for (int r2 = 0; r2 < rows; r2++) partial[(int64_t(blockIdx.y) * rows + r2) * out + c] = acc[r2];
}

// 4-bit path (out % 4 == 0; qweight, x and g_idx 16-byte aligned, scales 8-byte): thread t owns the channel quad
// 4t .. 4t + 3, whose 4 words of a packed row are one 16-byte load (32 weights), and loads kU packed rows before
// it decodes any: the general kernel's thread loads one 4-byte word and waits, so a warp holds 128 bytes in
// flight. When a packed row's 8 inputs share a group (without act-order, whenever a group is a multiple of 8
// inputs) the quad's scales and zeros are read once for the row, not per weight; otherwise (act-order, groups
// straddling packed rows, a bad group) per weight as the general kernel. Each weight and each fma is the general
// kernel's, in the same order over k (the emulation found the partial sums equal bit for bit at equal splits).
constexpr int kU = 8;

template <class T, int R>
__global__ void __launch_bounds__(kThreads)
    gptq_gemv4_partial_kernel(const T* __restrict__ x, int rows, const int4* __restrict__ qweight,
                              const int32_t* __restrict__ qzeros, const __half* __restrict__ scales,
                              const int32_t* __restrict__ g_idx, int64_t out, int64_t in, int64_t groups,
                              int64_t words_per_split, float* __restrict__ partial) {
  const int64_t quads = out / 4, t = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (t >= quads) return;  // no barrier below
  const int64_t c0 = 4 * t, words_per_col = in / 8, zero_words = out / 8;
  const int64_t r0 = int64_t(blockIdx.y) * words_per_split;
  const int64_t r1 = r0 + words_per_split < words_per_col ? r0 + words_per_split : words_per_col;
  const int zshift = int(c0 % 8) * 4;  // the quad's first zero nibble (c0 % 8 is 0 or 4: one zero word)
  float acc[R][4];
#pragma unroll
  for (int r2 = 0; r2 < R; r2++)
#pragma unroll
    for (int j = 0; j < 4; j++) acc[r2][j] = 0.0f;
  for (int64_t r = r0; r < r1; r += kU) {
    int4 q[kU];
#pragma unroll
    for (int u = 0; u < kU; u++)
      if (r + u < r1) q[u] = __ldcs(qweight + (r + u) * quads + t);
#pragma unroll
    for (int u = 0; u < kU; u++) {
      if (r + u >= r1) break;
      const int64_t k0 = (r + u) * 8;
      const int4 ga = __ldg(reinterpret_cast<const int4*>(g_idx + k0));
      const int4 gb = __ldg(reinterpret_cast<const int4*>(g_idx + k0 + 4));
      const int gi[8] = {ga.x, ga.y, ga.z, ga.w, gb.x, gb.y, gb.z, gb.w};
      const unsigned word[4] = {unsigned(q[u].x), unsigned(q[u].y), unsigned(q[u].z), unsigned(q[u].w)};
      bool one_group = gi[0] >= 0 && gi[0] < groups;
#pragma unroll
      for (int i = 1; i < 8; i++) one_group = one_group && gi[i] == gi[0];
      float w[4][8];  // w[j][i]: channel c0 + j, input k0 + i
      if (one_group) {  // the same for every thread of the warp: g_idx does not depend on the channel
        const int64_t g = gi[0];
        const uint2 sv = __ldg(reinterpret_cast<const uint2*>(scales + g * out + c0));
        const __half* s = reinterpret_cast<const __half*>(&sv);
        const unsigned zw = unsigned(__ldg(qzeros + g * zero_words + c0 / 8)) >> zshift;
#pragma unroll
        for (int j = 0; j < 4; j++) {
          const float sj = __half2float(s[j]);
          const int z = int(((zw >> (4 * j)) + 1u) & 15u);
#pragma unroll
          for (int i = 0; i < 8; i++) w[j][i] = __fmul_rn(sj, float(int((word[j] >> (4 * i)) & 15u) - z));
        }
      } else {
        // The rare path, kept as a loop (unrolled, its per-weight loads made each instance several times larger):
        // input by input, each accumulator still adding its inputs in order k0, k0 + 1, ...
#pragma unroll 1
        for (int i = 0; i < 8; i++) {
          const int64_t g = __ldg(g_idx + k0 + i);  // not gi[i]: a runtime index would put gi in local memory
          float wi[4];
#pragma unroll
          for (int j = 0; j < 4; j++) {
            if (g < 0 || g >= groups) {
              wi[j] = __int_as_float(0x7fc00000);  // as the general kernel: a bad group poisons
            } else {
              const int z = int(((unsigned(qzeros[g * zero_words + c0 / 8]) >> (zshift + 4 * j)) + 1u) & 15u);
              wi[j] = __fmul_rn(__half2float(scales[g * out + c0 + j]), float(int((word[j] >> (4 * i)) & 15u) - z));
            }
          }
#pragma unroll
          for (int r2 = 0; r2 < R; r2++) {
            if (R == 1 || r2 < rows) {
              const float xi = to_f(x[int64_t(r2) * in + k0 + i]);
#pragma unroll
              for (int j = 0; j < 4; j++) acc[r2][j] = fmaf(xi, wi[j], acc[r2][j]);
            }
          }
        }
        continue;
      }
#pragma unroll
      for (int r2 = 0; r2 < R; r2++) {
        if (R == 1 || r2 < rows) {
          float xv[8];
          load8(x + int64_t(r2) * in + k0, xv);
#pragma unroll
          for (int i = 0; i < 8; i++)
#pragma unroll
            for (int j = 0; j < 4; j++) acc[r2][j] = fmaf(xv[i], w[j][i], acc[r2][j]);
        }
      }
    }
  }
#pragma unroll
  for (int r2 = 0; r2 < R; r2++)
    if (R == 1 || r2 < rows)
      *reinterpret_cast<float4*>(partial + (int64_t(blockIdx.y) * rows + r2) * out + c0) =
          make_float4(acc[r2][0], acc[r2][1], acc[r2][2], acc[r2][3]);
}

// The 4-bit path's launch with R = rows rounded up to a power of two (1, 2, 4, 8).
template <class T>
void launch_gemv4(dim3 grid, cudaStream_t s, const T* x, int rows, const int32_t* qweight, const int32_t* qzeros,
                  const __half* scales, const int32_t* g_idx, int64_t out, int64_t in, int64_t groups,
                  int64_t words_per_split, float* partial) {
  with_row_count<kRows>(rows, [&](auto r) {
    gptq_gemv4_partial_kernel<T, decltype(r)::value><<<grid, kThreads, 0, s>>>(
        x, rows, reinterpret_cast<const int4*>(qweight), qzeros, scales, g_idx, out, in, groups, words_per_split,
        partial);
  });
}

}  // namespace

void gptq_gemv(int device, int dtype, const void* x, int64_t rows, const int32_t* qweight, const int32_t* qzeros,
               const uint16_t* scales, const int32_t* g_idx, int64_t out, int64_t in, int bits, int64_t groups,
               const void* bias, void* y) {
  cudaStream_t s = stream(device);
  const int64_t words_per_col = in / (32 / bits);
  const bool quads = bits == 4 && out % 4 == 0 && aligned16({qweight, x, g_idx}) &&
                     reinterpret_cast<uintptr_t>(scales) % 8 == 0 && !env_is("JSWIFT_GPTQ_GEMV", "v1");
  // Channels per thread block: 128 (general) or 512 (4 bits: a quad a thread).
  const int64_t per_block = (quads ? 4 : 1) * kThreads, grid_x = (out + per_block - 1) / per_block;
  require(grid_x <= int64_t(INT32_MAX), "jsw_gptq_gemv", "out_features = %lld is too large", (long long)out);
  // General: about 1024 thread blocks in all (several waves on 132 SMs), each split at least 8 packed rows long.
  // 4 bits: about 512 (each thread has kU 16-byte loads in flight), at least 2 kU packed rows a split; fewer
  // splits also mean fewer partial sums to write and re-read.
  int64_t splits = quads ? std::max<int64_t>(1, std::min<int64_t>(512 / grid_x, words_per_col / (2 * kU)))
                         : std::max<int64_t>(1, std::min<int64_t>(1024 / grid_x, words_per_col / 8));
  splits = std::min<int64_t>(splits, 65535);
  const int64_t words_per_split = (words_per_col + splits - 1) / splits;
  splits = (words_per_col + words_per_split - 1) / words_per_split;  // no empty split
  Scratch partial(device, splits * rows * out * int64_t(sizeof(float)));
  const dim3 grid(static_cast<unsigned>(grid_x), static_cast<unsigned>(splits));
  JSW_CUDA_DISPATCH_FLOAT(dtype, "jsw_gptq_gemv", {
    if (quads) {
      launch_gemv4<T>(grid, s, static_cast<const T*>(x), int(rows), qweight, qzeros,
                      reinterpret_cast<const __half*>(scales), g_idx, out, in, groups, words_per_split,
                      partial.as<float>());
      check_launch("gptq_gemv4_partial_kernel");
    } else {
      gptq_gemv_partial_kernel<T><<<grid, kThreads, 0, s>>>(
          static_cast<const T*>(x), int(rows), qweight, qzeros, reinterpret_cast<const __half*>(scales), g_idx, out,
          in, bits, groups, words_per_split, partial.as<float>());
      check_launch("gptq_gemv_partial_kernel");
    }
    sum_splits<T>(s, partial.as<float>(), splits, rows, out, static_cast<const T*>(bias), static_cast<T*>(y));
  });
}

}  // namespace cuda
}  // namespace jsw
