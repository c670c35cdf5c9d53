// Caching device allocator. cudaMalloc/cudaFree synchronize the device and cost tens of microseconds, so
// freed blocks go to a per-device free list keyed by size class and are handed out again. Reuse is safe
// without events because every jswift kernel and copy of a device runs on that device's one stream, so a
// block's next user is ordered after its previous one. Size classes: multiples of 512 B below 1 MiB, then
// 8 classes per power of two (at most 12.5% waste). On cudaMalloc failure the cache is emptied and the
// allocation retried once before reporting out-of-memory with the numbers a user needs. While a CUDA graph is
// captured (graph.cpp), allocations come from the cache only and freed blocks are kept for the graph.
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
  // CUDA graph capture: a graph's kernels use the addresses they were captured with on every replay, so a block
  // freed during the capture must not be handed to eager code while the graph lives (a replay would write into
  // it). Such blocks go to this pool instead of free_blocks; allocations during the capture come from the pool,
  // then from the cache, never from cudaMalloc (not allowed while capturing).
  bool capturing = false;
  std::multimap<size_t, void*> capture_pool;
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
  std::unique_lock<std::mutex> lock(mu);
  DeviceCache& c = caches[device];
  void* p = nullptr;
  auto it = c.free_blocks.find(cls);
  auto pooled = c.capturing ? c.capture_pool.find(cls) : c.capture_pool.end();
  if (pooled != c.capture_pool.end()) {
    p = pooled->second;
    c.capture_pool.erase(pooled);
  } else if (it != c.free_blocks.end()) {
    p = it->second;
    c.free_blocks.erase(it);
  } else if (c.capturing) {
    lock.unlock();
    refuse_in_capture(device, format("allocating %lld bytes on cuda:%d during CUDA graph capture: no cached block of "
                                     "that size (run the captured sequence once eagerly first, so that the cache "
                                     "holds every block it needs)", (long long)bytes, device));
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
  (c.capturing ? c.capture_pool : c.free_blocks).emplace(it->second, ptr);
  c.live.erase(it);
}

void capture_pool_begin(int device) {
  std::lock_guard<std::mutex> lock(mu);
  caches[device].capturing = true;
}

CachedBlocks capture_pool_end(int device) {
  std::lock_guard<std::mutex> lock(mu);
  DeviceCache& c = caches[device];
  CachedBlocks blocks(c.capture_pool.begin(), c.capture_pool.end());
  c.capture_pool.clear();
  c.capturing = false;
  return blocks;
}

void return_to_cache(int device, const CachedBlocks& blocks) {
  std::lock_guard<std::mutex> lock(mu);
  for (const auto& b : blocks) caches[device].free_blocks.emplace(b.first, b.second);
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
  if (capturing(device))
    refuse_in_capture(device, format("jsw_empty_cache(%d) during CUDA graph capture: it waits for the device",
                                     device));
  JSW_CUDA_CHECK(cudaStreamSynchronize(stream(device)));
  std::lock_guard<std::mutex> lock(mu);
  free_cached(device, caches[device]);
}

}  // namespace cuda
}  // namespace jsw
