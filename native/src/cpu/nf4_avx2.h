// The NF4 16-level table looked up in AVX2 registers, shared by the NF4 GEMV (cpu/nf4_gemv.cpp) and the tile
// decode (cpu/qmatmul_formats.cpp): an 8-lane permute reads only the low 3 bits of each index, so the table is two
// halves (levels 0-7 and 8-15, each possibly pre-multiplied by a block's scale), and bit 3 of the code, moved to
// the sign bit, picks between them. Bits above bit 3 of an index are ignored, so a whole byte can be passed where
// its low nibble is the code.
#pragma once

#if defined(__AVX2__)
#include <immintrin.h>

namespace jsw {
namespace cpu {

inline __m256 nf4_lookup8(__m256 lo, __m256 hi, __m256i codes) {
  return _mm256_blendv_ps(_mm256_permutevar8x32_ps(lo, codes), _mm256_permutevar8x32_ps(hi, codes),
                          _mm256_castsi256_ps(_mm256_slli_epi32(codes, 28)));
}

}  // namespace cpu
}  // namespace jsw
#endif
