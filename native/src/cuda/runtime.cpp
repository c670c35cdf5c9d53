#include "cuda/runtime.h"

#include "core/profile.h"

#include <atomic>
#include <cstring>
#include <mutex>
#include <string>

namespace jsw {
namespace cuda {

namespace {
constexpr int kMaxDevices = 64;
std::mutex mu;
cudaStream_t streams[kMaxDevices] = {};
int* flags[kMaxDevices] = {};
uint64_t* dropout_steps[kMaxDevices] = {};
}  // namespace

void check(cudaError_t status, const char* what) {
  if (status == cudaSuccess) return;
  int code = status == cudaErrorMemoryAllocation ? JSW_ERR_OUT_OF_MEMORY : JSW_ERR_CUDA;
  if (status == cudaErrorNoDevice || status == cudaErrorInsufficientDriver) code = JSW_ERR_NO_DEVICE;
  fail(code, format("CUDA error %d (%s) in %s", int(status), cudaGetErrorString(status), what));
}

void check_launch(const char* kernel) {
  cudaError_t status = cudaGetLastError();
  if (status != cudaSuccess)
    fail(JSW_ERR_CUDA, format("launch of %s failed: %s (was the library built for this GPU's architecture?)",
                              kernel, cudaGetErrorString(status)));
}

void set_device(int device) { JSW_CUDA_CHECK(cudaSetDevice(device)); }

cudaStream_t stream(int device) {
  if (device < 0 || device >= kMaxDevices) fail(JSW_ERR_INVALID_ARGUMENT, format("bad CUDA device %d", device));
  set_device(device);
  std::lock_guard<std::mutex> lock(mu);
  if (streams[device] == nullptr) {
    JSW_CUDA_CHECK(cudaStreamCreateWithFlags(&streams[device], cudaStreamNonBlocking));
    JSW_CUDA_CHECK(cudaMalloc(&flags[device], sizeof(int)));
    JSW_CUDA_CHECK(cudaMemsetAsync(flags[device], 0, sizeof(int), streams[device]));
    JSW_CUDA_CHECK(cudaMalloc(&dropout_steps[device], sizeof(uint64_t)));
    JSW_CUDA_CHECK(cudaMemsetAsync(dropout_steps[device], 0, sizeof(uint64_t), streams[device]));
  }
  return streams[device];
}

// The profiler's wait after each API call (core/profile.h): every stream made so far, except while capturing.
void wait_all_streams() {
  for (int d = 0; d < kMaxDevices; d++) {
    cudaStream_t s;
    {
      std::lock_guard<std::mutex> lock(mu);
      s = streams[d];
    }
    if (s != nullptr && !capturing(d)) cudaStreamSynchronize(s);  // errors surface at the next checked call
  }
}
const bool profile_wait_registered = (profile::set_device_wait(&wait_all_streams), true);

int* error_flag(int device) {
  stream(device);
  return flags[device];
}

uint64_t* dropout_step(int device) {
  stream(device);
  return dropout_steps[device];
}

int sm_count(int device) {
  constexpr int kCached = 64;
  static std::atomic<int> counts[kCached];
  int n = device >= 0 && device < kCached ? counts[device].load(std::memory_order_relaxed) : 0;
  if (n == 0) {
    JSW_CUDA_CHECK(cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, device));
    if (device >= 0 && device < kCached) counts[device].store(n, std::memory_order_relaxed);
  }
  return n;
}

void synchronize(int device) {
  if (capturing(device))
    refuse_in_capture(device, format("jsw_synchronize(%d) during CUDA graph capture: a captured sequence cannot wait "
                                     "for the device; read results after jsw_graph_end and a replay", device));
  cudaStream_t s = stream(device);
  int host_flag = 0;
  JSW_CUDA_CHECK(cudaMemcpyAsync(&host_flag, flags[device], sizeof(int), cudaMemcpyDeviceToHost, s));
  JSW_CUDA_CHECK(cudaStreamSynchronize(s));
  if (host_flag != 0) {
    JSW_CUDA_CHECK(cudaMemsetAsync(flags[device], 0, sizeof(int), s));
    JSW_CUDA_CHECK(cudaStreamSynchronize(s));
    std::string what;
    if (host_flag & kErrEmbeddingId) what += "a token id was outside [0, vocab) in an embedding lookup; ";
    if (host_flag & kErrLabel) what += "a label was outside [0, vocab) and not the ignore index; ";
    if (host_flag & kErrSeqlens)
      what += "attention cu_seqlens were not offsets from 0 with lengths in [0, seq_len] (those sequences were "
              "skipped); ";
    if (host_flag & kErrGatherIndex) what += "a column index was outside [0, cols) in jsw_gather_columns; ";
    if (host_flag & kErrKvLen)
      what += "a KV-cache length kv_len[b] was outside [q_len, capacity] (decode attention gave out = 0 and "
              "lse = -inf for that sequence; the append wrote nothing for it); ";
    fail(JSW_ERR_INVALID_ARGUMENT, format("cuda:%d kernels reported bad input: %s(the affected outputs are zeros)",
                                          device, what.c_str()));
  }
}

void memcpy(void* dst, int dst_device, const void* src, int src_device, int64_t bytes) {
  if (bytes == 0) return;
  int device = dst_device >= 0 ? dst_device : src_device;
  if (dst_device >= 0 && dst_device == src_device) {
    // Within one device the copy is ordered on the stream like any kernel, so the host need not wait for it (a
    // wait per copy drained the queue, e.g. once a layer for gradient checkpointing), and a capture records it.
    JSW_CUDA_CHECK(cudaMemcpyAsync(dst, src, size_t(bytes), cudaMemcpyDeviceToDevice, stream(device)));
    return;
  }
  if (capturing(device))
    refuse_in_capture(device, format("jsw_memcpy on cuda:%d during CUDA graph capture: copies to or from the host "
                                     "wait for the device; stage inputs in device memory before jsw_graph_begin",
                                     device));
  cudaStream_t s = stream(device);
  JSW_CUDA_CHECK(cudaMemcpyAsync(dst, src, size_t(bytes), cudaMemcpyDefault, s));
  JSW_CUDA_CHECK(cudaStreamSynchronize(s));
}

void memset(int device, void* ptr, int value, int64_t bytes) {
  if (bytes == 0) return;
  JSW_CUDA_CHECK(cudaMemsetAsync(ptr, value, size_t(bytes), stream(device)));
}

int device_name(int device, char* name, int len) {
  cudaDeviceProp prop;
  JSW_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
  std::strncpy(name, prop.name, size_t(len));
  if (len > 0) name[len - 1] = '\0';
  return 0;
}

}  // namespace cuda

bool cuda_compiled() { return true; }

int cuda_device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no driver" status
    return 0;
  }
  return n;
}

}  // namespace jsw
