// The NF4 and 8-bit "dynamic" encoders of bitsandbytes, shared verbatim by the CPU and CUDA twins so that both
// produce the same integer codes bit for bit (every operation here is a single IEEE fp32 compare, multiply or
// add, which nvcc and GCC evaluate identically; nothing here can be contracted into an FMA).
#pragma once

#include <cstdint>

#ifdef __CUDACC__
#define JSW_HOST_DEVICE __host__ __device__
#else
#define JSW_HOST_DEVICE
#endif

// The 16 NF4 levels (bitsandbytes get_4bit_type("nf4") and its CUDA LUT), index = 4-bit code.
#define JSW_NF4_CODEBOOK                                                                                   \
  -1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f, -0.28444138169288635f,         \
      -0.18477343022823334f, -0.09105003625154495f, 0.0f, 0.07958029955625534f, 0.16093020141124725f,      \
      0.24611230194568634f, 0.33791524171829224f, 0.44070982933044434f, 0.5626170039176941f,               \
      0.7229568362236023f, 1.0f

namespace jsw {
namespace nf4 {

// Code of a value already scaled to [-1, 1]: the number of decision thresholds strictly below x. The thresholds
// are the fp32 literals of bitsandbytes' CUDA decision tree (dQuantizeNF4: midpoints of adjacent levels), and
// its tree tests `x > threshold` at every node, so counting them is the same function: a value exactly on a
// threshold takes the LOWER code, and NaN (0 * inf, from an all-zero block) takes code 0, as in bitsandbytes.
// That CUDA path is the one that quantized nearly every published NF4 checkpoint, hence its tie rule and not
// the argmin of the pure-torch fallback (which can differ within an ulp of a midpoint).
JSW_HOST_DEVICE inline int encode_nf4(float x) {
  return int(x > -0.8480964004993439f) + int(x > -0.6106329262256622f) + int(x > -0.4599952697753906f) +
         int(x > -0.33967943489551544f) + int(x > -0.23460740596055984f) + int(x > -0.13791173323988914f) +
         int(x > -0.045525018125772476f) + int(x > 0.03979014977812767f) + int(x > 0.1202552504837513f) +
         int(x > 0.2035212516784668f) + int(x > 0.2920137718319893f) + int(x > 0.3893125355243683f) +
         int(x > 0.5016634166240692f) + int(x > 0.6427869200706482f) + int(x > 0.8614784181118011f);
}

// Nearest entry of a sorted 256-entry code (the signed dynamic map) to x in [-1, 1], exactly as bitsandbytes'
// non-stochastic dQuantize<0>: a 7-step binary search from pivot 127, then a comparison with the fp32 midpoint
// to the neighbour the search last stepped away from (ties stay on the searched pivot).
JSW_HOST_DEVICE inline uint8_t encode_dynamic(const float* code, float x) {
  int pivot = 127, upper_pivot = 255, lower_pivot = 0;
  float lower = -1.0f, upper = 1.0f;
  float val = code[pivot];
  for (int step = 64; step > 0; step >>= 1) {
    if (x > val) {
      lower_pivot = pivot;
      lower = val;
      pivot += step;
    } else {
      upper_pivot = pivot;
      upper = val;
      pivot -= step;
    }
    val = code[pivot];
  }
  if (upper_pivot == 255) upper = code[upper_pivot];
  if (lower_pivot == 0) lower = code[lower_pivot];
  if (x > val) {
    float midpoint = (upper + val) * 0.5f;
    return uint8_t(x > midpoint ? upper_pivot : pivot);
  }
  float midpoint = (lower + val) * 0.5f;
  return uint8_t(x < midpoint ? lower_pivot : pivot);
}

// Group size of the second-level (double) quantization of the absmax vector, fixed by bitsandbytes.
constexpr int64_t kNestedBlock = 256;

}  // namespace nf4
}  // namespace jsw
