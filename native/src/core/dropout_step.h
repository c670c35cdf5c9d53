// The CPU's dropout step (jsw_set_dropout_step): part of every dropout mask's key (kernels/dropout_hash.h), read
// by the CPU kernels when they run. The CUDA twin keeps each device's step in device memory (cuda/runtime.h).
#pragma once

#include <cstdint>

namespace jsw {
namespace cpu {

uint64_t dropout_step();
void set_dropout_step(uint64_t step);

}  // namespace cpu
}  // namespace jsw
