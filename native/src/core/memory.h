// Host memory with allocation statistics. Device memory lives in cuda/allocator.
#pragma once

#include <cstdint>

namespace jsw {
namespace cpu {

void* alloc(int64_t bytes);
void release(void* ptr);
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
