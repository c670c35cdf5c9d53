// SwiGLU twins (contract: jsw_swiglu_fwd / jsw_swiglu_bwd in jswift.h). Elementwise, so any output may alias
// any input.
#pragma once

#include <cstdint>

namespace jsw {
namespace cpu {
void swiglu_fwd(int dtype, const void* gate, const void* up, int64_t n, void* out);
void swiglu_bwd(int dtype, const void* dout, const void* gate, const void* up, int64_t n, void* dgate, void* dup);
}  // namespace cpu
namespace cuda {
void swiglu_fwd(int device, int dtype, const void* gate, const void* up, int64_t n, void* out);
void swiglu_bwd(int device, int dtype, const void* dout, const void* gate, const void* up, int64_t n, void* dgate,
                void* dup);
}  // namespace cuda
}  // namespace jsw
