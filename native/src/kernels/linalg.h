// Dense factorisations for adapter initialisation (contracts in jswift.h). CPU only: they run once per layer
// at setup, so a CUDA model copies the weight to the host (cuSOLVER is not linked).
#pragma once

#include <cstdint>

namespace jsw {
namespace cpu {
void svd_f32(const float* a, int64_t m, int64_t n, float* u, float* s, float* vt);
void qr_f32(const float* a, int64_t m, int64_t n, float* q, float* r);
}  // namespace cpu
}  // namespace jsw
