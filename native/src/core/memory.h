// Host memory with allocation statistics. Device memory lives in cuda/allocator.
#pragma once

#include <cstdint>

namespace jsw {
namespace cpu {

void* alloc(int64_t bytes);
void release(void* ptr);
// True if [ptr, ptr + bytes) lies inside one block of alloc (device memory of the CPU, not other host memory).
bool owns(const void* ptr, int64_t bytes);
// True if ptr is a block alloc returned and release has not freed.
bool is_block(const void* ptr);
void memory_stats(int64_t* stats);
void reset_peak_memory();

// Scratch memory for a kernel's temporaries: freed when the object goes out of scope.
class Scratch {
 public:
  explicit Scratch(int64_t bytes) : ptr_(alloc(bytes)) {}
  ~Scratch() { release(ptr_); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  template <class T>
  T* as() const {
    return static_cast<T*>(ptr_);
  }

 private:
  void* ptr_;
};

}  // namespace cpu
}  // namespace jsw
