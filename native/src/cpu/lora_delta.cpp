// The unmerged LoRA adapter's term for decode-shaped inputs (contract: jsw_lora_delta in jswift.h), the CPU twin
// of cuda-kernels/lora_delta.cu: xa = x A^T rounded to the storage type (as QuantizedLora's GEMM stores it), then
// y += scale * xa B^T, fp32 sums.
#include <vector>

#include "core/dtype.h"
#include "kernels/lora.h"

namespace jsw {
namespace cpu {

namespace {

template <class T>
void lora_delta_typed(const T* x, int64_t rows, int64_t in, const T* a, int64_t rank, const T* b, int64_t out,
                      float scale, T* y) {
  std::vector<float> xa(static_cast<size_t>(rows * rank));
  for (int64_t r = 0; r < rows; r++)
    for (int64_t k = 0; k < rank; k++) {
      float s = 0.0f;
      for (int64_t i = 0; i < in; i++) s += to_float(x[r * in + i]) * to_float(a[k * in + i]);
      xa[size_t(r * rank + k)] = to_float(from_float<T>(s));
    }
#pragma omp parallel for schedule(static) if (rows * out * rank > 65536)
  for (int64_t o = 0; o < out; o++)
    for (int64_t r = 0; r < rows; r++) {
      float s = 0.0f;
      for (int64_t k = 0; k < rank; k++) s += xa[size_t(r * rank + k)] * to_float(b[o * rank + k]);
      y[r * out + o] = from_float<T>(to_float(y[r * out + o]) + scale * s);
    }
}

}  // namespace

void lora_delta(int dtype, const void* x, int64_t rows, int64_t in, const void* a, int64_t rank, const void* b,
                int64_t out, float scale, void* y) {
  JSW_DISPATCH_FLOAT(dtype, "jsw_lora_delta",
                     lora_delta_typed(static_cast<const T*>(x), rows, in, static_cast<const T*>(a), rank,
                                      static_cast<const T*>(b), out, scale, static_cast<T*>(y)));
}

}  // namespace cpu
}  // namespace jsw
