// The CPU decode-attention task kernel, compiled twice from attention_decode_tiles.h: for the library's baseline
// instruction set (x86-64-v3: AVX2 + FMA) and, on x86-64 with GCC, for AVX-512 under `#pragma GCC target`,
// picked at run time (as the training attention does, and with the same JSWIFT_CPU_ISA=baseline override).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <type_traits>
#include <utility>

#include "core/dtype.h"
#include "cpu/isa.h"
#include "cpu/attention_decode_cpu.h"
#include "cpu/vec_exp.h"

namespace jsw {
namespace cpu {
namespace decode {

namespace baseline {
constexpr int kW = 8;   // 256-bit vectors
constexpr int kNR = 2;  // 4 x 2 score accumulators: 8 of the 16 ymm registers
constexpr int kNV = 2;  // 4 x 2 P V accumulators
#include "cpu/attention_decode_tiles.h"
}  // namespace baseline

#ifdef JSW_CPU_AVX512
JSW_AVX512_BEGIN
namespace avx512 {
constexpr int kW = 16;  // 512-bit vectors
constexpr int kNR = 4;  // 4 x 4 score accumulators: 16 of the 32 zmm registers
constexpr int kNV = 4;  // 4 x 4 P V accumulators
#include "cpu/attention_decode_tiles.h"
}  // namespace avx512
JSW_AVX512_END
#endif

const TaskKernels& task_kernels() {
  static const TaskKernels base{
      "baseline", baseline::kW, {baseline::run_task<float>, baseline::run_task<bf16>, baseline::run_task<f16>}};
#ifdef JSW_CPU_AVX512
  static const TaskKernels wide{
      "avx512", avx512::kW, {avx512::run_task<float>, avx512::run_task<bf16>, avx512::run_task<f16>}};
  if (use_avx512()) return wide;
#endif
  return base;
}

}  // namespace decode
}  // namespace cpu
}  // namespace jsw
