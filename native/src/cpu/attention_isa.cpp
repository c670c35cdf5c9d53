// The CPU flash-attention tile kernels, compiled twice from attention_tiles.h: for the library's baseline
// instruction set (x86-64-v3: AVX2 + FMA) and, on x86-64 with GCC, for AVX-512 under `#pragma GCC target`,
// picked at run time. AVX-512 doubles the width of every tile product; the drivers (OpenMP, scratch) stay
// ISA-neutral and reach the kernels through the TileKernels table.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <type_traits>

#include "core/dtype.h"
#include "cpu/isa.h"
#include "cpu/attention_cpu.h"

namespace jsw {
namespace cpu {
namespace attn {

namespace baseline {
constexpr int kW = 8;   // 256-bit vectors
constexpr int kMR = 6;  // 6 x 16 accumulators: 12 of the 16 ymm registers
#include "cpu/attention_tiles.h"
}  // namespace baseline

#ifdef JSW_CPU_AVX512
JSW_AVX512_BEGIN
namespace avx512 {
constexpr int kW = 16;  // 512-bit vectors
constexpr int kMR = 8;  // 8 x 32 accumulators: 16 of the 32 zmm registers
#include "cpu/attention_tiles.h"
}  // namespace avx512
JSW_AVX512_END
#endif

const TileKernels& tile_kernels() {
  static const TileKernels base{
      "baseline",
      baseline::kW,
      {baseline::fwd_item<float>, baseline::fwd_item<bf16>, baseline::fwd_item<f16>},
      {baseline::bwd_item<float>, baseline::bwd_item<bf16>, baseline::bwd_item<f16>}};
#ifdef JSW_CPU_AVX512
  static const TileKernels wide{
      "avx512",
      avx512::kW,
      {avx512::fwd_item<float>, avx512::fwd_item<bf16>, avx512::fwd_item<f16>},
      {avx512::bwd_item<float>, avx512::bwd_item<bf16>, avx512::bwd_item<f16>}};
  if (use_avx512()) return wide;
#endif
  return base;
}

}  // namespace attn
}  // namespace cpu
}  // namespace jsw
