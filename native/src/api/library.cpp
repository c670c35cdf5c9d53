// C ABI: library info, devices, memory and copies.
#include <omp.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "core/device.h"
#include "core/dispatch.h"
#include "core/memory.h"
#include "kernels/gemm.h"
#include "jswift/jswift.h"

#ifdef JSWIFT_WITH_CUDA
#include "cuda/runtime.h"
#endif

namespace jsw {
const char* last_error_message();
}

using namespace jsw;

extern "C" {

const char* jsw_last_error(void) { return last_error_message(); }

const char* jsw_build_info(void) {
  static const std::string info = std::string("jswift ") + JSWIFT_VERSION + " (" + JSWIFT_COMPILER +
                                  "; BLAS: " + JSWIFT_BLAS_NAME + "; CUDA: " + JSWIFT_CUDA_INFO + ")";
  return info.c_str();
}

int jsw_cuda_compiled(void) { return cuda_compiled() ? 1 : 0; }

int jsw_cuda_device_count(void) {
  try {
    return cuda_device_count();
  } catch (...) {
    return 0;
  }
}

int jsw_cuda_device_name(int device, char* name, int len) {
  JSW_API_BEGIN
  require_ptr(name, "jsw_cuda_device_name", "name");
  require_positive(len, "jsw_cuda_device_name", "len");
  require(device >= 0, "jsw_cuda_device_name", "device must be a CUDA device index, got %d", device);
  require_device(device, "jsw_cuda_device_name");
  JSW_CUDA_ONLY(cuda::device_name(device, name, len));
  JSW_API_END
}

int jsw_cpu_threads(void) { return omp_get_max_threads(); }

int jsw_set_cpu_threads(int threads) {
  JSW_API_BEGIN
  require_positive(threads, "jsw_set_cpu_threads", "threads");
  omp_set_num_threads(threads);
  JSW_API_END
}

int jsw_set_blas_threads(int threads) {
  JSW_API_BEGIN
  require_positive(threads, "jsw_set_blas_threads", "threads");
  cpu::set_blas_threads(threads);
  JSW_API_END
}

int jsw_malloc(int device, int64_t bytes, void** out) {
  JSW_API_BEGIN
  require_ptr(out, "jsw_malloc", "out");
  *out = nullptr;
  require_non_negative(bytes, "jsw_malloc", "bytes");
  require_device(device, "jsw_malloc");
  if (device == JSW_CPU) {
    *out = cpu::alloc(bytes);
  } else {
    JSW_CUDA_ONLY(*out = cuda::alloc(device, bytes));
  }
  JSW_API_END
}

int jsw_free(int device, void* ptr) {
  JSW_API_BEGIN
  require_device(device, "jsw_free");
  if (device == JSW_CPU) {
    // A block freed while this thread captures the CPU stays the graph's: its replays write it.
    if (ptr != nullptr && cpu_graph::capturing()) {
      require(cpu::is_block(ptr), "jsw_free", "pointer was not allocated by jsw_malloc on the CPU (or freed twice)");
      cpu_graph::keep_freed_block(ptr);
    } else {
      cpu::release(ptr);
    }
  } else {
    JSW_CUDA_ONLY(cuda::release(device, ptr));
  }
  JSW_API_END
}

int jsw_memcpy(void* dst, int dst_device, const void* src, int src_device, int64_t bytes) {
  JSW_API_BEGIN
  require_non_negative(bytes, "jsw_memcpy", "bytes");
  if (bytes > 0) {
    require_ptr(dst, "jsw_memcpy", "dst");
    require_ptr(src, "jsw_memcpy", "src");
  }
  require_device(dst_device, "jsw_memcpy");
  require_device(src_device, "jsw_memcpy");
  if (dst_device == JSW_CPU && src_device == JSW_CPU) {
    if (cpu_graph::capturing() && bytes > 0 && !(cpu::owns(dst, bytes) && cpu::owns(src, bytes)))
      cpu_graph::refuse("jsw_memcpy to or from host memory during a CPU graph capture: a graph cannot take the "
                        "host's data; copy inputs into the graph's tensors before jsw_graph_launch and read "
                        "results after it");
    if (bytes > 0) JSW_CPU_RUN(std::memmove(dst, src, size_t(bytes)));
  } else {
    JSW_CUDA_ONLY(cuda::memcpy(dst, dst_device, src, src_device, bytes));
  }
  JSW_API_END
}

int jsw_memset(int device, void* ptr, int value, int64_t bytes) {
  JSW_API_BEGIN
  require_non_negative(bytes, "jsw_memset", "bytes");
  if (bytes > 0) require_ptr(ptr, "jsw_memset", "ptr");
  require_device(device, "jsw_memset");
  if (device == JSW_CPU) {
    if (bytes > 0) JSW_CPU_RUN(std::memset(ptr, value, size_t(bytes)));
  } else {
    JSW_CUDA_ONLY(cuda::memset(device, ptr, value, bytes));
  }
  JSW_API_END
}

int jsw_profile_start(void) {
  jsw::profile::start();
  return JSW_OK;
}

int jsw_profile_stop(const char* label) {
  jsw::profile::stop(label != nullptr ? label : "");
  return JSW_OK;
}

int64_t jsw_profile_table(const char* label, char* out, int64_t capacity) {
  if (capacity < 0 || (capacity > 0 && out == nullptr))
    return jsw::set_last_error(JSW_ERR_INVALID_ARGUMENT, "jsw_profile_table: out must hold capacity >= 0 bytes");
  try {  // not JSW_API_BEGIN: the profiler's own call stays out of its table
    const std::string t = jsw::profile::table(label != nullptr ? label : "");
    if (capacity > 0) {
      const size_t n = std::min(size_t(capacity - 1), t.size());
      std::memcpy(out, t.data(), n);
      out[n] = '\0';
    }
    return int64_t(t.size()) + 1;
  } catch (const std::bad_alloc&) {
    return jsw::set_last_error(JSW_ERR_OUT_OF_MEMORY, "host out of memory");
  }
}

int jsw_synchronize(int device) {
  JSW_API_BEGIN
  require_device(device, "jsw_synchronize");
  if (device == JSW_CPU && cpu_graph::capturing())
    cpu_graph::refuse("jsw_synchronize(-1) during a CPU graph capture: a captured sequence cannot wait for its own "
                      "results; read them after jsw_graph_end and a replay");
  if (device != JSW_CPU) JSW_CUDA_ONLY(cuda::synchronize(device));
  JSW_API_END
}

int jsw_memory_stats(int device, int64_t* stats) {
  JSW_API_BEGIN
  require_ptr(stats, "jsw_memory_stats", "stats");
  require_device(device, "jsw_memory_stats");
  if (device == JSW_CPU) {
    cpu::memory_stats(stats);
  } else {
    JSW_CUDA_ONLY(cuda::memory_stats(device, stats));
  }
  JSW_API_END
}

int jsw_reset_peak_memory(int device) {
  JSW_API_BEGIN
  require_device(device, "jsw_reset_peak_memory");
  if (device == JSW_CPU) {
    cpu::reset_peak_memory();
  } else {
    JSW_CUDA_ONLY(cuda::reset_peak_memory(device));
  }
  JSW_API_END
}

int jsw_empty_cache(int device) {
  JSW_API_BEGIN
  require_device(device, "jsw_empty_cache");
  if (device != JSW_CPU) JSW_CUDA_ONLY(cuda::empty_cache(device));
  JSW_API_END
}

}  // extern "C"
