// Storage types on the host: bf16 and f16 are plain 16-bit patterns converted to/from fp32 with
// round-to-nearest-even, the rounding torch and CUDA use, so CPU and GPU twins store identical bits.
#pragma once

#include <cstdint>
#include <cstring>

#include "core/error.h"

namespace jsw {

struct bf16 {
  uint16_t bits;
};
struct f16 {
  uint16_t bits;
};

inline float bits_to_float(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
inline uint32_t float_to_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

inline float to_float(float x) { return x; }
inline float to_float(bf16 x) { return bits_to_float(uint32_t(x.bits) << 16); }
inline float to_float(f16 x) {
  uint32_t h = x.bits;
  uint32_t sign = (h & 0x8000u) << 16, exp = (h >> 10) & 0x1f, mant = h & 0x3ffu;
  if (exp == 0x1f) return bits_to_float(sign | 0x7f800000u | (mant << 13));  // inf / nan
  if (exp == 0) {
    if (mant == 0) return bits_to_float(sign);
    // subnormal: value = mant * 2^-24
    float v = float(mant) * 5.9604644775390625e-08f;
    return sign ? -v : v;
  }
  return bits_to_float(sign | ((exp + 112) << 23) | (mant << 13));
}

template <class T>
T from_float(float f);

template <>
inline float from_float<float>(float f) {
  return f;
}
template <>
inline bf16 from_float<bf16>(float f) {
  uint32_t u = float_to_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return bf16{uint16_t((u >> 16) | 0x40)};  // quiet nan
  u += 0x7fffu + ((u >> 16) & 1u);
  return bf16{uint16_t(u >> 16)};
}
template <>
inline f16 from_float<f16>(float f) {
  uint32_t u = float_to_bits(f);
  uint32_t sign = (u >> 16) & 0x8000u;
  uint32_t a = u & 0x7fffffffu;
  if (a > 0x7f800000u) return f16{uint16_t(sign | 0x7e00u)};  // nan
  if (a >= 0x477ff000u) return f16{uint16_t(sign | 0x7c00u)};  // rounds to inf
  if (a < 0x38800000u) {                                      // subnormal or zero in f16
    // value / 2^-24 rounded to nearest even integer
    float v = bits_to_float(a) * 16777216.0f;
    uint32_t m = uint32_t(v);
    float frac = v - float(m);
    if (frac > 0.5f || (frac == 0.5f && (m & 1u))) m++;
    return f16{uint16_t(sign | m)};
  }
  uint32_t exp = (a >> 23) - 112, mant = a & 0x7fffffu;
  uint32_t h = (exp << 10) | (mant >> 13);
  uint32_t rest = mant & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) h++;
  return f16{uint16_t(sign | h)};
}

inline int64_t dtype_size(int dtype) {
  switch (dtype) {
    case JSW_F32: return 4;
    case JSW_BF16: return 2;
    case JSW_F16: return 2;
    case JSW_I8: return 1;
    case JSW_U8: return 1;
    case JSW_I32: return 4;
    case JSW_I64: return 8;
    default: return 0;
  }
}

const char* dtype_name(int dtype);

}  // namespace jsw

// Runs the statements with `T` bound to the storage type of `dtype` (f32 / bf16 / f16).
#define JSW_DISPATCH_FLOAT(dtype, op, ...)                                       \
  switch (dtype) {                                                               \
    case JSW_F32: { using T = float; __VA_ARGS__; break; }                       \
    case JSW_BF16: { using T = ::jsw::bf16; __VA_ARGS__; break; }                \
    case JSW_F16: { using T = ::jsw::f16; __VA_ARGS__; break; }                  \
    default: ::jsw::require_float_dtype(dtype, op);                              \
  }
