// Which build of a kernel with two instruction-set builds runs: the library's baseline (x86-64-v3: AVX2 + FMA)
// or, on x86-64 with GCC, an AVX-512 build compiled under `#pragma GCC target` and picked at run time. The
// environment variable JSWIFT_CPU_ISA=baseline forces the baseline, so tests on an AVX-512 machine cover both.
#pragma once

#include <cstdlib>
#include <cstring>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define JSW_CPU_AVX512 1
#endif

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

}  // namespace cpu
}  // namespace jsw
