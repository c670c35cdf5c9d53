// What the NF4 kernels that read a packed weight word by word share (nf4_gemv.cu, nf4_mma.cu): the 16 levels,
// the decode of a 16-byte word of codes, and the absmax blocks' scales, plain or double-quantized.
#pragma once

#include <cstdint>

#include "common.cuh"
#include "kernels/nf4_codes.h"

namespace jsw {
namespace cuda {
namespace {

__constant__ float kNf4Levels[16] = {JSW_NF4_CODEBOOK};

// The 32 levels of a 16-byte word of codes (high nibble first), from the shared table.
__device__ __forceinline__ void decode_word(uint4 q, const float* lut, float (&lv)[32]) {
  const unsigned words[4] = {q.x, q.y, q.z, q.w};
#pragma unroll
  for (int j = 0; j < 16; j++) {
    const unsigned byte = (words[j / 4] >> (8 * (j & 3))) & 0xffu;
    lv[2 * j] = lut[byte >> 4];
    lv[2 * j + 1] = lut[byte & 15u];
  }
}

// An absmax block's scale: the plain fp32 absmax, or (double quantization) recovered from its 8-bit code as
// decode_nested_kernel does, product and sum rounded separately (bit for bit the CPU twin's). load(b) issues the
// global loads a scale needs and value() finishes it, so a kernel that prefetches can hold the loads in flight
// (the nested scale's code-table lookup depends on its code: it is left to value(), where the 1 KB table is
// in L1). operator() does both.
struct PlainScales {
  const float* absmax;
  using Raw = float;
  __device__ __forceinline__ Raw load(int64_t b) const { return __ldg(absmax + b); }
  __device__ __forceinline__ float value(Raw r) const { return r; }
  __device__ __forceinline__ float operator()(int64_t b) const { return value(load(b)); }
};
struct NestedScales {
  const uint8_t* absmax_q;
  const float* nested;
  const float* code256;
  float offset;
  struct Raw {
    unsigned code;
    float nested;
  };
  __device__ __forceinline__ Raw load(int64_t b) const {
    return {__ldg(absmax_q + b), __ldg(nested + b / nf4::kNestedBlock)};
  }
  __device__ __forceinline__ float value(Raw r) const {
    return __fadd_rn(__fmul_rn(__ldg(code256 + r.code), r.nested), offset);
  }
  __device__ __forceinline__ float operator()(int64_t b) const { return value(load(b)); }
};

}  // namespace
}  // namespace cuda
}  // namespace jsw
