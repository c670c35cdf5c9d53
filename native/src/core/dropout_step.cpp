#include "core/dropout_step.h"

#include <atomic>

namespace jsw {
namespace cpu {

namespace {
std::atomic<uint64_t> step{0};
}  // namespace

uint64_t dropout_step() { return step.load(std::memory_order_relaxed); }

void set_dropout_step(uint64_t s) { step.store(s, std::memory_order_relaxed); }

}  // namespace cpu
}  // namespace jsw
