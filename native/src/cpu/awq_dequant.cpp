// AWQ dequantization on the CPU, the reference of the CUDA twin. The checkpoint is [in, out / 8] words while
// the dense weight is [out, in]: each task takes one word column (8 outputs) and a run of kTile inputs, decodes
// the tile into a small [8, kTile] buffer (the inner loop over the 8 nibbles has no branches and vectorises) and
// writes 8 contiguous row segments, so every store stream runs front to back.
#include <algorithm>

#include <omp.h>

#include "core/dtype.h"
#include "core/error.h"
#include "cpu/awq_block.h"
#include "kernels/awq.h"

namespace jsw {
namespace cpu {

namespace {

constexpr int64_t kTile = kAwqBlock;

template <class T>
void dequantize(const int32_t* qweight, const int32_t* qzeros, const uint16_t* scales, int64_t in, int64_t out,
                int64_t group_size, T* w) {
  const int64_t words = out / awq::kPerWord, tiles = (in + kTile - 1) / kTile;
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t j = 0; j < words; j++) {
    for (int64_t t = 0; t < tiles; t++) {
      const int64_t k0 = t * kTile, k1 = std::min(in, k0 + kTile);
      float tile[awq::kPerWord][kTile];
      awq_decode_block(qweight, qzeros, scales, out, group_size, j, k0, k1, tile);
      for (int m = 0; m < awq::kPerWord; m++) {
        T* row = w + (j * awq::kPerWord + m) * in;
        for (int64_t k = k0; k < k1; k++) row[k] = from_float<T>(tile[m][k - k0]);
      }
    }
  }
}

}  // namespace

void awq_dequantize(int dtype, const int32_t* qweight, const int32_t* qzeros, const uint16_t* scales, int64_t in,
                    int64_t out, int64_t group_size, void* w) {
  JSW_DISPATCH_FLOAT(dtype, "jsw_awq_dequantize",
                     dequantize<T>(qweight, qzeros, scales, in, out, group_size, static_cast<T*>(w)));
}

}  // namespace cpu
}  // namespace jsw
