// The NF4 tensor-core product for a few input rows (cuda-kernels/nf4_mma.cu): jsw_nf4_matmul's forward on CUDA
// takes it for 1..kMmaMaxRows rows of bf16 / f16 (batched decode), where the tile GEMM would dequantize the whole
// weight for them. It has no CPU twin of its own: the CPU runs such products through its tile GEMM, which is
// the reference the CUDA twin tests compare it with.
#pragma once

#include <algorithm>
#include <cstdint>

namespace jsw {
namespace nf4 {

// One m-tile of mma.m16n8k16.
constexpr int64_t kMmaMaxRows = 16;

// Into how many slices the kernel splits an input of `steps` steps of 128 values, for `columns` blocks of output
// channels: enough blocks for one full wave of the GPU (`wave` blocks resident at once), at most `max_slice`
// steps a slice (the x staged in shared memory), at most 8 splits otherwise (each adds a pass of fp32 partial
// sums, rows x out), and never more than there are steps.
inline int64_t mma_splits(int64_t steps, int64_t columns, int64_t wave, int64_t max_slice) {
  const int64_t fewest = (steps + max_slice - 1) / max_slice;
  const int64_t for_wave = std::min<int64_t>((wave + columns - 1) / columns, 8);
  return std::max<int64_t>(1, std::min(steps, std::max(fewest, for_wave)));
}

}  // namespace nf4

namespace cuda {
// Whether nf4_mma takes this product: bf16 / f16, 1..kMmaMaxRows rows, in a multiple of 128, blocksize a multiple
// of 32, x and packed 16-byte aligned, and JSWIFT_NF4_MMA is not "off" (the switch back to the tile GEMM).
bool nf4_mma_applies(int dtype, int64_t rows, int64_t in, int64_t blocksize, const void* x, const uint8_t* packed);
// y [rows, out] = x [rows, in] W^T + beta y, W the NF4 weight [out, in] (plain absmax, or absmax_q + nested_absmax
// + code256 + offset when double-quantized).
void nf4_mma(int device, int dtype, const void* x, int64_t rows, int64_t in, const uint8_t* packed,
             const float* absmax, const uint8_t* absmax_q, const float* nested_absmax, const float* code256,
             float offset, int64_t out, int64_t blocksize, float beta, void* y);
}  // namespace cuda
}  // namespace jsw
