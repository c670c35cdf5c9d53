// Which build of a kernel with two instruction-set builds runs: the library's baseline (x86-64-v3: AVX2 + FMA)
// or, on x86-64 with GCC, an AVX-512 build compiled under `#pragma GCC target` and picked at run time. The
// environment variable JSWIFT_CPU_ISA=baseline forces the baseline, so tests on an AVX-512 machine cover both.
#pragma once

#include <cstdlib>
#include <cstring>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define JSW_CPU_AVX512 1
#endif

// Brackets the AVX-512 build of a kernel in a source compiled for the baseline:
//   #ifdef JSW_CPU_AVX512
//   JSW_AVX512_BEGIN
//   ... functions using AVX-512 intrinsics ...
//   JSW_AVX512_END
//   #endif
// GCC 12's AVX-512 intrinsics pass _mm512_undefined_*() (a self-initialised variable) as the unused merge
// source, which -W(maybe-)uninitialized reports from every inlined call: a known false positive, silenced here.
#define JSW_AVX512_BEGIN                                      \
  _Pragma("GCC push_options")                                 \
  _Pragma("GCC target(\"avx512f,avx512bw\")")                \
  _Pragma("GCC diagnostic push")                              \
  _Pragma("GCC diagnostic ignored \"-Wmaybe-uninitialized\"") \
  _Pragma("GCC diagnostic ignored \"-Wuninitialized\"")
#define JSW_AVX512_END _Pragma("GCC diagnostic pop") _Pragma("GCC pop_options")

namespace jsw {
namespace cpu {

// True when the CPU has AVX-512 F and BW and JSWIFT_CPU_ISA=baseline does not ask for the baseline build.
inline bool use_avx512() {
#ifdef JSW_CPU_AVX512
  static const bool has = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw");
  const char* forced = std::getenv("JSWIFT_CPU_ISA");
  return has && (forced == nullptr || std::strcmp(forced, "baseline") != 0);
#else
  return false;
#endif
}

// use_avx512() and the CPU also has AVX512DQ (64-bit integer multiplies, int64 -> float conversions).
inline bool use_avx512dq() {
#ifdef JSW_CPU_AVX512
  static const bool has = __builtin_cpu_supports("avx512dq");
  return has && use_avx512();
#else
  return false;
#endif
}

}  // namespace cpu
}  // namespace jsw
