// One block of an AWQ weight decoded on the CPU: word column j (outputs 8j .. 8j+7) over inputs [k0, k1), into
// buf[m][k - k0] = f16 scale * (q - zero), the arithmetic of jsw_awq_dequantize. Shared by the dequantization and
// the tile GEMM's row dequantizer, which lay the block out differently afterwards.
#pragma once

#include <cstdint>

#include "core/dtype.h"
#include "kernels/awq.h"

namespace jsw {
namespace cpu {

// At most this many inputs per block (the callers' buffer width).
constexpr int64_t kAwqBlock = 64;

inline void awq_decode_block(const int32_t* qweight, const int32_t* qzeros, const uint16_t* scales, int64_t out,
                             int64_t group_size, int64_t j, int64_t k0, int64_t k1,
                             float (&buf)[awq::kPerWord][kAwqBlock]) {
  const int64_t words = out / awq::kPerWord;
  for (int64_t k = k0; k < k1; k++) {
    const int64_t g = k / group_size;
    const uint32_t word = uint32_t(qweight[k * words + j]), zword = uint32_t(qzeros[g * words + j]);
    const uint16_t* s = scales + g * out + j * awq::kPerWord;
    for (int m = 0; m < awq::kPerWord; m++) {  // branch-free over the 8 nibbles: it vectorises
      const int shift = 4 * awq::kNibbleOf[m];
      const int q = int((word >> shift) & 15u), z = int((zword >> shift) & 15u);
      buf[m][k - k0] = to_float(f16{s[m]}) * float(q - z);
    }
  }
}

}  // namespace cpu
}  // namespace jsw
