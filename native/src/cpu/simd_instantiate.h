// Compiles the kernels of the header named by JSW_SIMD_KERNELS (written over cpu/simd_width.h's V) once per
// instruction set: into namespace baseline with 8-lane AVX2 vectors where the build targets x86-64-v3 (then
// JSW_SIMD_BASELINE is defined), and into namespace avx512 with 16-lane vectors under JSW_AVX512_BEGIN where the
// compiler can (JSW_CPU_AVX512; cpu/isa.h's use_avx512() says at run time whether the CPU can). Usage:
//   #define JSW_SIMD_KERNELS "cpu/gptq_decode.h"
//   #include "cpu/simd_instantiate.h"
// No include guard on purpose: each kernel family includes it once.
#include "cpu/isa.h"

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#define JSW_SIMD_BASELINE 1
namespace baseline {
#define JSW_SIMD_WIDTH 8
#include "cpu/simd_width.h"
#include JSW_SIMD_KERNELS
#undef JSW_SIMD_WIDTH
}  // namespace baseline
#endif

#ifdef JSW_CPU_AVX512
JSW_AVX512_BEGIN
namespace avx512 {
#define JSW_SIMD_WIDTH 16
#include "cpu/simd_width.h"
#include JSW_SIMD_KERNELS
#undef JSW_SIMD_WIDTH
}  // namespace avx512
JSW_AVX512_END
#endif

#undef JSW_SIMD_KERNELS
