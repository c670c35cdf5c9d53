// Dequant-to-tile GEMM twins (contract: jsw_nf4_matmul / jsw_gptq_matmul in jswift.h): a product with a packed
// low-bit weight W [out, in] that never materialises the dense weight. The drivers walk W one panel of output
// rows at a time, ask the format to dequantize that panel into a small fp32 tile (CPU) / storage-dtype tile
// (CUDA), and multiply the tile:
//   forward  (trans = false): y [rows, out] = x [rows, in]  W^T + beta * y   (y's panel columns, one GEMM each)
//   backward (trans = true):  y [rows, in]  = x [rows, out] W   + beta * y   (every panel adds into all of y)
//
// A format is ONLY its "dequantize rows [r0, r1) of W" routine (a RowDequant below), so adding one is:
//   1. a RowDequant (CPU) and a cuda::DeviceRowDequant (CUDA) subclass next to the format's other kernels,
//   2. a C ABI entry (native/src/api/qmatmul.cpp) that checks the format's arguments, builds the dequantizer
//      and calls cpu::qmatmul / cuda::qmatmul.
// NF4, GPTQ and AWQ are implemented that way (cpu/qmatmul_formats.cpp, cuda-kernels/qmatmul.cu).
#pragma once

#include <cstdint>

struct CUstream_st;  // cudaStream_t is CUstream_st*

namespace jsw {
namespace qmatmul {

// CPU tile budget: a panel holds about this many fp32 values (4 MiB), at least kMinPanel rows (so the GEMM on it
// stays efficient) and never more than the weight's rows. Panels are multiples of 16 rows.
constexpr int64_t kCpuTileValues = int64_t(1) << 20;
// CUDA tile budget: 16 Mi values of the storage dtype (32 MiB in bf16), big enough to keep cuBLAS busy.
constexpr int64_t kCudaTileValues = int64_t(1) << 24;
// CUDA: a product is cut into up to kCudaOverlapPanels panels whose dequantization (a side stream) overlaps the
// GEMM of the previous panel (the device stream), in two tiles, as long as each panel's GEMM keeps
// kCudaMinPanelOutputs outputs (128 tiles of 128 x 128, about one per SM of an H100): smaller GEMMs would leave
// the GPU idle for longer than the dequantization takes.
constexpr int64_t kCudaOverlapPanels = 4;
constexpr int64_t kCudaMinPanelOutputs = int64_t(1) << 21;

// Panels of the CUDA pipeline for a product with `outputs` outputs: 1 (no pipeline) to kCudaOverlapPanels.
inline int64_t pipeline_panels(int64_t outputs) {
  const int64_t p = outputs / kCudaMinPanelOutputs;
  return p < 1 ? 1 : p > kCudaOverlapPanels ? kCudaOverlapPanels : p;
}
constexpr int64_t kMinPanel = 16;
// Most input rows the GPTQ dequant-GEMV takes: one fp32 accumulator per row in registers.
constexpr int64_t kGptqGemvMaxRows = 8;

inline int64_t panel_rows(int64_t out, int64_t in, int64_t budget) {
  int64_t p = budget / (in > 0 ? in : 1);
  p = p / kMinPanel * kMinPanel;
  if (p < kMinPanel) p = kMinPanel;
  return p < out ? p : out;
}

// Width of the backward's column panels W[:, c0:c1] on CUDA: as many panels as a tile of `budget` values needs,
// of balanced widths rounded up to the format's quantum (in is a multiple of it).
inline int64_t panel_columns(int64_t out, int64_t in, int64_t budget, int64_t quantum) {
  int64_t most = budget / (out > 0 ? out : 1) / quantum * quantum;
  if (most < quantum) most = quantum;
  const int64_t panels = (in + most - 1) / most;
  const int64_t width = ((in + panels - 1) / panels + quantum - 1) / quantum * quantum;
  return width < in ? width : in;
}

}  // namespace qmatmul

namespace cpu {

// Dequantizes rows [r0, r1) of the format's W [out, in] into tile [(r1 - r0), in] (row-major fp32). Called by
// one thread at a time; an implementation parallelises inside with OpenMP (the panel is large enough).
class RowDequant {
 public:
  virtual ~RowDequant() = default;
  virtual void rows(int64_t r0, int64_t r1, float* tile) const = 0;
};

// The CPU driver: x, y of float dtype `dtype` (row-major, contiguous), W [out, in] through `deq`.
void qmatmul(const RowDequant& deq, int dtype, const void* x, int64_t rows, int64_t out, int64_t in, bool trans,
             float beta, void* y);

// The formats (cpu/qmatmul_formats.cpp). Each validates nothing: the C ABI has checked the arguments.
class Nf4Rows : public RowDequant {
 public:
  // absmax: plain fp32 scales, or nullptr with double quantization (absmax_q, nested, code256, offset).
  Nf4Rows(const uint8_t* packed, const float* absmax, const uint8_t* absmax_q, const float* nested,
          const float* code256, float offset, int64_t in, int64_t blocksize)
      : packed_(packed), absmax_(absmax), absmax_q_(absmax_q), nested_(nested), code256_(code256),
        offset_(offset), in_(in), blocksize_(blocksize) {}
  void rows(int64_t r0, int64_t r1, float* tile) const override;

 private:
  const uint8_t* packed_;
  const float* absmax_;
  const uint8_t* absmax_q_;
  const float *nested_, *code256_;
  float offset_;
  int64_t in_, blocksize_;
};

class GptqRows : public RowDequant {
 public:
  // g_idx values must lie in [0, groups) (the C ABI checks them).
  GptqRows(const int32_t* qweight, const int32_t* qzeros, const uint16_t* scales, const int32_t* g_idx, int64_t in,
           int64_t out, int bits, int64_t groups)
      : qweight_(qweight), qzeros_(qzeros), scales_(scales), g_idx_(g_idx), in_(in), out_(out), bits_(bits),
        groups_(groups) {}
  void rows(int64_t r0, int64_t r1, float* tile) const override;

 private:
  const int32_t *qweight_, *qzeros_;
  const uint16_t* scales_;
  const int32_t* g_idx_;
  int64_t in_, out_;
  int bits_;
  int64_t groups_;
};

// AWQ packs 8 outputs per word along the OUTPUT dim (qweight [in, out / 8]), so rows [r0, r1) of W are the word
// columns r0 / 8 .. (r1 - 1) / 8; a panel edge inside a word keeps only that word's outputs in the range.
class AwqRows : public RowDequant {
 public:
  AwqRows(const int32_t* qweight, const int32_t* qzeros, const uint16_t* scales, int64_t in, int64_t out,
          int64_t group_size)
      : qweight_(qweight), qzeros_(qzeros), scales_(scales), in_(in), out_(out), group_size_(group_size) {}
  void rows(int64_t r0, int64_t r1, float* tile) const override;

 private:
  const int32_t *qweight_, *qzeros_;
  const uint16_t* scales_;
  int64_t in_, out_, group_size_;
};

// GPTQ dequant-GEMV (cpu/gptq_gemv.cpp): y [rows, out] = x W^T (+ bias), 1 <= rows <= kGptqGemvMaxRows.
void gptq_gemv(int dtype, const void* x, int64_t rows, const int32_t* qweight, const int32_t* qzeros,
               const uint16_t* scales, const int32_t* g_idx, int64_t out, int64_t in, int bits, int64_t groups,
               const void* bias, void* y);

}  // namespace cpu

namespace cuda {

// Dequantizes rows [r0, r1) of W into tile [(r1 - r0), in] of `dtype` (the product's storage dtype) on a
// stream of the product's device: one or more kernel launches, no host synchronisation.
// Dequantizers launch on the stream they are given (the device's, or the side stream of the CUDA driver's
// pipeline); cudaStream_t is spelled as CUDA defines it, so that this header needs no CUDA include.
class DeviceRowDequant {
 public:
  virtual ~DeviceRowDequant() = default;
  virtual void rows(int dtype, int64_t r0, int64_t r1, void* tile, CUstream_st* stream) const = 0;
  // A format that can also dequantize column panels W[:, c0:c1] (the backward's, which then need no fp32
  // accumulator) returns their quantum (c0 and c1 multiples of it), else 0.
  virtual int64_t column_quantum() const { return 0; }
  // W[:, c0:c1] into tile [out, c1 - c0] of `dtype`; only when column_quantum() > 0.
  virtual void columns(int dtype, int64_t out, int64_t c0, int64_t c1, void* tile, CUstream_st* stream) const {}
};

void qmatmul(int device, const DeviceRowDequant& deq, int dtype, const void* x, int64_t rows, int64_t out,
             int64_t in, bool trans, float beta, void* y);

// The CUDA formats (cuda-kernels/qmatmul.cu). NF4 recovers double-quantized scales per value in the tile kernel
// (two cached loads), so no scale vector is materialised either.
class Nf4DeviceRows : public DeviceRowDequant {
 public:
  Nf4DeviceRows(const uint8_t* packed, const float* absmax, const uint8_t* absmax_q, const float* nested,
                const float* code256, float offset, int64_t in, int64_t blocksize)
      : packed_(packed), absmax_(absmax), absmax_q_(absmax_q), nested_(nested), code256_(code256), offset_(offset),
        in_(in), blocksize_(blocksize) {}
  void rows(int dtype, int64_t r0, int64_t r1, void* tile, CUstream_st* stream) const override;
  int64_t column_quantum() const override;
  void columns(int dtype, int64_t out, int64_t c0, int64_t c1, void* tile, CUstream_st* stream) const override;

 private:
  bool by16() const;  // the 16-values-a-thread kernels apply
  const uint8_t* packed_;
  const float* absmax_;
  const uint8_t* absmax_q_;
  const float *nested_, *code256_;
  float offset_;
  int64_t in_, blocksize_;
};

class GptqDeviceRows : public DeviceRowDequant {
 public:
  GptqDeviceRows(const int32_t* qweight, const int32_t* qzeros, const uint16_t* scales, const int32_t* g_idx,
                 int64_t in, int64_t out, int bits, int64_t groups)
      : qweight_(qweight), qzeros_(qzeros), scales_(scales), g_idx_(g_idx), in_(in), out_(out), bits_(bits),
        groups_(groups) {}
  void rows(int dtype, int64_t r0, int64_t r1, void* tile, CUstream_st* stream) const override;

 private:
  const int32_t *qweight_, *qzeros_;
  const uint16_t* scales_;
  const int32_t* g_idx_;
  int64_t in_, out_;
  int bits_;
  int64_t groups_;
};

class AwqDeviceRows : public DeviceRowDequant {
 public:
  AwqDeviceRows(const int32_t* qweight, const int32_t* qzeros, const uint16_t* scales, int64_t in, int64_t out,
                int64_t group_size)
      : qweight_(qweight), qzeros_(qzeros), scales_(scales), in_(in), out_(out), group_size_(group_size) {}
  void rows(int dtype, int64_t r0, int64_t r1, void* tile, CUstream_st* stream) const override;

 private:
  const int32_t *qweight_, *qzeros_;
  const uint16_t* scales_;
  int64_t in_, out_, group_size_;
};

// GPTQ dequant-GEMV (cuda-kernels/gptq_gemv.cu), same contract as cpu::gptq_gemv.
void gptq_gemv(int device, int dtype, const void* x, int64_t rows, const int32_t* qweight, const int32_t* qzeros,
               const uint16_t* scales, const int32_t* g_idx, int64_t out, int64_t in, int bits, int64_t groups,
               const void* bias, void* y);

}  // namespace cuda
}  // namespace jsw
