#include "core/memory.h"

#include <cstdlib>
#include <mutex>
#include <map>

#include "core/error.h"

namespace jsw {
namespace cpu {

namespace {
std::mutex mu;
// Ordered by address: owns() finds the block around a pointer.
std::map<const char*, int64_t> sizes;
int64_t allocated = 0, peak = 0, count = 0;
}  // namespace

void* alloc(int64_t bytes) {
  if (bytes <= 0) return nullptr;
  void* p = nullptr;
  // Round up to a whole number of cache lines: aligned_alloc requires it, and SIMD tails may read them.
  size_t rounded = (size_t(bytes) + 63) & ~size_t(63);
  if (posix_memalign(&p, 64, rounded) != 0 || p == nullptr)
    fail(JSW_ERR_OUT_OF_MEMORY, format("host allocation of %lld bytes failed", (long long)bytes));
  std::lock_guard<std::mutex> lock(mu);
  sizes[static_cast<const char*>(p)] = bytes;
  allocated += bytes;
  count++;
  if (allocated > peak) peak = allocated;
  return p;
}

void release(void* ptr) {
  if (ptr == nullptr) return;
  {
    std::lock_guard<std::mutex> lock(mu);
    auto it = sizes.find(static_cast<const char*>(ptr));
    if (it == sizes.end())
      fail(JSW_ERR_INVALID_ARGUMENT, "jsw_free: pointer was not allocated by jsw_malloc on the CPU (or freed twice)");
    allocated -= it->second;
    sizes.erase(it);
  }
  std::free(ptr);
}

bool is_block(const void* ptr) {
  std::lock_guard<std::mutex> lock(mu);
  return sizes.count(static_cast<const char*>(ptr)) != 0;
}

bool owns(const void* ptr, int64_t bytes) {
  const char* p = static_cast<const char*>(ptr);
  std::lock_guard<std::mutex> lock(mu);
  auto it = sizes.upper_bound(p);
  if (it == sizes.begin()) return false;
  --it;
  return p >= it->first && bytes >= 0 && p + bytes <= it->first + it->second;
}

void memory_stats(int64_t* stats) {
  std::lock_guard<std::mutex> lock(mu);
  stats[0] = allocated;
  stats[1] = allocated;
  stats[2] = peak;
  stats[3] = count;
}

void reset_peak_memory() {
  std::lock_guard<std::mutex> lock(mu);
  peak = allocated;
}

}  // namespace cpu
}  // namespace jsw
