// The CPU dequant-to-tile GEMM driver (kernels/qmatmul.h): one fp32 tile of a panel of W's rows, dequantized by
// the format (OpenMP inside), then one OpenBLAS sgemm on it (threaded inside). Dequantizing and multiplying in
// turn, rather than per-thread tiles with single-threaded GEMMs, keeps OpenBLAS' own threading and blocking,
// and the one tile is the only weight-sized temporary: panel_rows * in * 4 bytes (4 MiB) whatever the layer.
// bf16/f16 activations are widened to fp32 once (activation-sized, not weight-sized) and rounded once at the end.
#include <algorithm>
#include <type_traits>

#include "core/dtype.h"
#include "core/memory.h"
#include "kernels/gemm.h"
#include "kernels/qmatmul.h"

namespace jsw {
namespace cpu {

namespace {

template <class T>
void run(const RowDequant& deq, const T* x, int64_t rows, int64_t out, int64_t in, bool trans, float beta, T* y) {
  constexpr bool f32 = std::is_same<T, float>::value;
  const int64_t xcols = trans ? out : in, ycols = trans ? in : out;
  Scratch xs(f32 ? 0 : rows * xcols * 4), ys(f32 ? 0 : rows * ycols * 4);
  const float* xf = reinterpret_cast<const float*>(x);
  float* yf = reinterpret_cast<float*>(y);
  if constexpr (!f32) {
    float* xw = xs.as<float>();
#pragma omp parallel for simd schedule(static) if (rows * xcols > 65536)
    for (int64_t i = 0; i < rows * xcols; i++) xw[i] = to_float(x[i]);
    xf = xw;
    yf = ys.as<float>();
    if (beta != 0.0f) {
#pragma omp parallel for simd schedule(static) if (rows * ycols > 65536)
      for (int64_t i = 0; i < rows * ycols; i++) yf[i] = to_float(y[i]);
    }
  }
  const int64_t panel = qmatmul::panel_rows(out, in, qmatmul::kCpuTileValues);
  Scratch tile_mem(panel * in * 4);
  float* tile = tile_mem.as<float>();
  for (int64_t o0 = 0; o0 < out; o0 += panel) {
    const int64_t o1 = std::min(out, o0 + panel), n = o1 - o0;
    deq.rows(o0, o1, tile);
    if (!trans) {
      // y[:, o0:o1] = x tile^T + beta y[:, o0:o1]: each panel owns its columns of y.
      sgemm(false, true, rows, n, in, 1.0f, xf, in, tile, in, beta, yf + o0, out);
    } else {
      // y += x[:, o0:o1] tile: every panel adds into all of y; beta applies once, with the first.
      sgemm(false, false, rows, in, n, 1.0f, xf + o0, out, tile, in, o0 == 0 ? beta : 1.0f, yf, in);
    }
  }
  if constexpr (!f32) {
#pragma omp parallel for simd schedule(static) if (rows * ycols > 65536)
    for (int64_t i = 0; i < rows * ycols; i++) y[i] = from_float<T>(yf[i]);
  }
}

}  // namespace

void qmatmul(const RowDequant& deq, int dtype, const void* x, int64_t rows, int64_t out, int64_t in, bool trans,
             float beta, void* y) {
  if (rows == 0) return;
  JSW_DISPATCH_FLOAT(dtype, "qmatmul",
                     run<T>(deq, static_cast<const T*>(x), rows, out, in, trans, beta, static_cast<T*>(y)));
}

}  // namespace cpu
}  // namespace jsw
