// Caching device allocator. cudaMalloc/cudaFree synchronize the device and cost tens of microseconds, so
// freed blocks go to a per-device free list keyed by size class and are handed out again. Reuse is safe
// without events because every jswift kernel and copy of a device runs on that device's one stream, so a
// block's next user is ordered after its previous one. Size classes: multiples of 512 B below 1 MiB, then
// 8 classes per power of two (at most 12.5% waste). On cudaMalloc failure the cache is emptied and the
// allocation retried once before reporting out-of-memory with the numbers a user needs.
#include <cuda_runtime.h>

#include <map>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "cuda/runtime.h"

namespace jsw {
namespace cuda {

namespace {

struct DeviceCache {
  std::multimap<size_t, void*> free_blocks;      // size class -> block
  std::unordered_map<void*, size_t> live;        // block -> size class
  int64_t allocated = 0, reserved = 0, peak = 0, mallocs = 0;
};

constexpr int kMaxDevices = 64;
std::mutex mu;
DeviceCache caches[kMaxDevices];

size_t size_class(size_t bytes) {
  if (bytes < (1u << 20)) return (bytes + 511) & ~size_t(511);
  int top = 63 - __builtin_clzll(bytes);  // 2^top <= bytes
  size_t step = size_t(1) << (top - 3);
  return (bytes + step - 1) & ~(step - 1);
}

void free_cached(int device, DeviceCache& c) {
  set_device(device);
  for (auto& kv : c.free_blocks) {
    cudaFree(kv.second);
    c.reserved -= int64_t(kv.first);
  }
  c.free_blocks.clear();
}

}  // namespace

void* alloc(int device, int64_t bytes) {
  if (bytes <= 0) return nullptr;
  size_t cls = size_class(size_t(bytes));
  std::lock_guard<std::mutex> lock(mu);
  DeviceCache& c = caches[device];
  void* p = nullptr;
  auto it = c.free_blocks.find(cls);
  if (it != c.free_blocks.end()) {
    p = it->second;
    c.free_blocks.erase(it);
  } else {
    set_device(device);
    cudaError_t status = cudaMalloc(&p, cls);
    if (status == cudaErrorMemoryAllocation) {
      cudaGetLastError();
      free_cached(device, c);
      status = cudaMalloc(&p, cls);
    }
    if (status != cudaSuccess) {
      cudaGetLastError();
      size_t free_b = 0, total_b = 0;
      cudaMemGetInfo(&free_b, &total_b);
      fail(status == cudaErrorMemoryAllocation ? JSW_ERR_OUT_OF_MEMORY : JSW_ERR_CUDA,
           format("cuda:%d: allocating %.1f MiB failed (%s); jswift holds %.1f MiB, the device has %.1f MiB free "
                  "of %.1f MiB. Reduce the batch size or sequence length, or enable gradient checkpointing.",
                  device, bytes / 1048576.0, cudaGetErrorString(status), c.allocated / 1048576.0,
                  free_b / 1048576.0, total_b / 1048576.0));
    }
    c.reserved += int64_t(cls);
    c.mallocs++;
  }
  c.live[p] = cls;
  c.allocated += int64_t(cls);
  if (c.allocated > c.peak) c.peak = c.allocated;
  return p;
}

void release(int device, void* ptr) {
  if (ptr == nullptr) return;
  std::lock_guard<std::mutex> lock(mu);
  DeviceCache& c = caches[device];
  auto it = c.live.find(ptr);
  if (it == c.live.end())
    fail(JSW_ERR_INVALID_ARGUMENT,
         format("jsw_free: pointer was not allocated by jsw_malloc on cuda:%d (or was freed twice)", device));
  c.allocated -= int64_t(it->second);
  c.free_blocks.emplace(it->second, ptr);
  c.live.erase(it);
}

void memory_stats(int device, int64_t* stats) {
  std::lock_guard<std::mutex> lock(mu);
  DeviceCache& c = caches[device];
  stats[0] = c.allocated;
  stats[1] = c.reserved;
  stats[2] = c.peak;
  stats[3] = c.mallocs;
}

void reset_peak_memory(int device) {
  std::lock_guard<std::mutex> lock(mu);
  caches[device].peak = caches[device].allocated;
}

void empty_cache(int device) {
  JSW_CUDA_CHECK(cudaStreamSynchronize(stream(device)));
  std::lock_guard<std::mutex> lock(mu);
  free_cached(device, caches[device]);
}

}  // namespace cuda
}  // namespace jsw
