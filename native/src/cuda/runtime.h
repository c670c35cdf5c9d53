// Per-device CUDA state shared by the host glue and the kernels: one stream per device (every jswift kernel
// and copy is ordered on it), a device-side error flag that kernels raise for bad data (e.g. a token id out
// of range) and that jsw_synchronize reports, and launch checking.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"

namespace jsw {
namespace cuda {

// Bits a kernel may set in the device error flag.
enum DeviceError : int {
  kErrEmbeddingId = 1,
  kErrLabel = 2,
  kErrSeqlens = 4,  // attention: cu_seqlens offsets not 0-based, decreasing, or a length above seq_len
  kErrKvLen = 8,    // KV-cache decode / append: a kv_len outside [q_len, capacity]
  kErrGatherIndex = 16,  // jsw_gather_columns: an index outside [0, cols)
};

void check(cudaError_t status, const char* what);
// After a kernel launch: reports a launch failure (bad configuration, no kernel image for this GPU...).
void check_launch(const char* kernel);
void set_device(int device);
cudaStream_t stream(int device);
int* error_flag(int device);
// The device's dropout step (jsw_set_dropout_step) in device memory: dropout kernels read it when they run, so a
// graph replays with the step set before each launch (kernels/dropout_hash.h). Starts at 0.
uint64_t* dropout_step(int device);
// Multiprocessors of the device (queried once per device): what a launcher sizes a grid of split work by.
int sm_count(int device);
void synchronize(int device);
void memcpy(void* dst, int dst_device, const void* src, int src_device, int64_t bytes);
void memset(int device, void* ptr, int value, int64_t bytes);
int device_name(int device, char* name, int len);

// Caching allocator (allocator.cpp).
void* alloc(int device, int64_t bytes);
void release(int device, void* ptr);
void memory_stats(int device, int64_t* stats);
void reset_peak_memory(int device);
void empty_cache(int device);

// --- CUDA graph capture (graph.cpp, allocator.cpp): see jsw_graph_begin in jswift.h ---
// True while the device's stream is being captured into a graph.
bool capturing(int device);
// During a capture: records `what` as the first reason the capture is broken (jsw_graph_end reports it) and throws
// JSW_ERR_UNSUPPORTED with it.
[[noreturn]] void refuse_in_capture(int device, const std::string& what);
// The allocator's side of a capture: from begin to end, allocations are served from the cache only and freed
// blocks go to the capture's pool; end hands that pool (size class, block) to the graph, which gives it back to the
// cache when it is destroyed.
using CachedBlocks = std::vector<std::pair<size_t, void*>>;
void capture_pool_begin(int device);
CachedBlocks capture_pool_end(int device);
void return_to_cache(int device, const CachedBlocks& blocks);
// A fixed cuBLAS workspace for the device's handle, so that captured GEMMs allocate nothing (cublas_loader.cpp).
void fix_cublas_workspace(int device);

// Device scratch for a kernel's temporaries, returned to the cache on scope exit (stream-ordered reuse).
class Scratch {
 public:
  Scratch(int device, int64_t bytes) : device_(device), ptr_(alloc(device, bytes)) {}
  ~Scratch() {
    try {
      release(device_, ptr_);
    } catch (...) {
    }
  }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  template <class T>
  T* as() const {
    return static_cast<T*>(ptr_);
  }

 private:
  int device_;
  void* ptr_;
};

inline unsigned int blocks_for(int64_t n, int threads) { return (unsigned int)((n + threads - 1) / threads); }

}  // namespace cuda
}  // namespace jsw

#define JSW_CUDA_CHECK(expr) ::jsw::cuda::check((expr), #expr)
