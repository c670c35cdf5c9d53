// A vector type of kW fp32 / int32 lanes with the handful of operations the one-row quantized decode kernels
// (gptq_decode.h, awq_decode.h) use, so that each kernel is written once and compiled once per instruction set:
// included (like those headers) inside an ISA namespace after `#define JSW_SIMD_WIDTH 8` (AVX2 + FMA + F16C, the
// library's x86-64-v3 baseline) or 16 (AVX-512 F + BW, under JSW_AVX512_BEGIN). No include guard on purpose.
struct V {
#if JSW_SIMD_WIDTH == 16
  using F = __m512;
  using I = __m512i;
  static constexpr int kW = 16;
  static F load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, F v) { _mm512_storeu_ps(p, v); }
  static F zero() { return _mm512_setzero_ps(); }
  static F set1(float x) { return _mm512_set1_ps(x); }
  static F sub(F a, F b) { return _mm512_sub_ps(a, b); }
  static F mul(F a, F b) { return _mm512_mul_ps(a, b); }
  static F fma(F a, F b, F c) { return _mm512_fmadd_ps(a, b, c); }
  static I loadi(const int32_t* p) { return _mm512_loadu_si512(p); }
  static I set1i(int x) { return _mm512_set1_epi32(x); }
  static I addi(I a, I b) { return _mm512_add_epi32(a, b); }
  static I andi(I a, I b) { return _mm512_and_si512(a, b); }
  static I ori(I a, I b) { return _mm512_or_si512(a, b); }
  static I srlv(I a, I counts) { return _mm512_srlv_epi32(a, counts); }
  static F as_float(I a) { return _mm512_castsi512_ps(a); }
  // kW f16 values from memory, widened to fp32 (exact).
  static F halves(const uint16_t* p) { return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))); }
  // The fp32 bits of 2^23 + ((w >> shift) & mask), i.e. 2^23 plus the field: one ternary-logic op.
  static F field(I w, int shift, I mask, I magic) {
    return _mm512_castsi512_ps(_mm512_ternarylogic_epi32(_mm512_srli_epi32(w, unsigned(shift)), mask, magic, 0xEA));
  }
#elif JSW_SIMD_WIDTH == 8
  using F = __m256;
  using I = __m256i;
  static constexpr int kW = 8;
  static F load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, F v) { _mm256_storeu_ps(p, v); }
  static F zero() { return _mm256_setzero_ps(); }
  static F set1(float x) { return _mm256_set1_ps(x); }
  static F sub(F a, F b) { return _mm256_sub_ps(a, b); }
  static F mul(F a, F b) { return _mm256_mul_ps(a, b); }
  static F fma(F a, F b, F c) { return _mm256_fmadd_ps(a, b, c); }
  static I loadi(const int32_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }
  static I set1i(int x) { return _mm256_set1_epi32(x); }
  static I addi(I a, I b) { return _mm256_add_epi32(a, b); }
  static I andi(I a, I b) { return _mm256_and_si256(a, b); }
  static I ori(I a, I b) { return _mm256_or_si256(a, b); }
  static I srlv(I a, I counts) { return _mm256_srlv_epi32(a, counts); }
  static F as_float(I a) { return _mm256_castsi256_ps(a); }
  static F halves(const uint16_t* p) { return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
  static F field(I w, int shift, I mask, I magic) {
    return _mm256_castsi256_ps(_mm256_or_si256(_mm256_and_si256(_mm256_srli_epi32(w, shift), mask), magic));
  }
#else
#error "define JSW_SIMD_WIDTH as 8 or 16 before including cpu/simd_width.h"
#endif
};
