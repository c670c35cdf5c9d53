// CUDA graphs of a device's jswift stream. Every jswift op of a device is queued on that one stream, so capturing
// it records a whole training step (kernels, cuBLAS GEMMs, memsets) and a replay queues it again with one launch.
//
// Capture mode: cudaStreamCaptureModeThreadLocal. The stream is captured by the thread that calls jsw_graph_begin;
// that thread may then make no "potentially unsafe" CUDA call (cudaMalloc, synchronizations), which the allocator
// and the synchronizing entry points refuse with a clear message before CUDA would; other threads (a data
// prefetch thread, the JVM's) are unaffected, which Global mode would not allow, and Relaxed mode would let an
// accidental cudaMalloc through silently, baking a block the cache does not know into the graph.
//
// Memory: allocations during a capture are served from the caching allocator's cache (never cudaMalloc), and the
// blocks freed during it are kept by the graph until it is destroyed (allocator.cpp), so each replay finds its
// temporaries at the captured addresses and nothing else uses them in between. Every replay and eager op runs on
// the same stream, so reuse across them stays ordered as for eager work.
#include "cuda/graph.h"

#include <atomic>
#include <mutex>
#include <string>

#include "cuda/runtime.h"

namespace jsw {
namespace cuda {

namespace {

constexpr int kMaxDevices = 64;

struct Capture {
  std::atomic<bool> active{false};
  std::mutex mu;
  std::string failure;  // the first refusal during this capture ("" if none)
};
Capture captures[kMaxDevices];

struct Graph {
  int device;
  cudaGraphExec_t exec;
  CachedBlocks blocks;  // freed during the capture, reused by every replay, back to the cache at destroy
};

Capture& capture_of(int device) {
  if (device < 0 || device >= kMaxDevices) fail(JSW_ERR_INVALID_ARGUMENT, format("bad CUDA device %d", device));
  return captures[device];
}

}  // namespace

bool capturing(int device) { return device >= 0 && device < kMaxDevices && captures[device].active.load(); }

void refuse_in_capture(int device, const std::string& what) {
  Capture& c = capture_of(device);
  {
    std::lock_guard<std::mutex> lock(c.mu);
    if (c.failure.empty()) c.failure = what;
  }
  fail(JSW_ERR_UNSUPPORTED, what);
}

void graph_begin(int device) {
  Capture& c = capture_of(device);
  if (c.active.load())
    fail(JSW_ERR_INVALID_ARGUMENT, format("jsw_graph_begin: cuda:%d is already being captured (call jsw_graph_end "
                                          "first)", device));
  cudaStream_t s = stream(device);  // the stream and its error flag exist before the capture
  fix_cublas_workspace(device);
  {
    std::lock_guard<std::mutex> lock(c.mu);
    c.failure.clear();
  }
  capture_pool_begin(device);
  c.active.store(true);
  cudaError_t st = cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal);
  if (st != cudaSuccess) {
    cudaGetLastError();
    c.active.store(false);
    return_to_cache(device, capture_pool_end(device));
    fail(JSW_ERR_CUDA, format("jsw_graph_begin: cudaStreamBeginCapture on cuda:%d failed: %s", device,
                              cudaGetErrorString(st)));
  }
}

void* graph_end(int device) {
  Capture& c = capture_of(device);
  if (!c.active.load())
    fail(JSW_ERR_INVALID_ARGUMENT, format("jsw_graph_end: cuda:%d is not being captured (call jsw_graph_begin "
                                          "first)", device));
  cudaGraph_t graph = nullptr;
  cudaError_t st = cudaStreamEndCapture(stream(device), &graph);
  c.active.store(false);
  CachedBlocks blocks = capture_pool_end(device);
  std::string failure;
  {
    std::lock_guard<std::mutex> lock(c.mu);
    failure.swap(c.failure);
  }
  if (failure.empty() && st != cudaSuccess)
    failure = format("cudaStreamEndCapture: %s (an operation that cannot be captured ran on the stream)",
                     cudaGetErrorString(st));
  if (failure.empty() && graph == nullptr) failure = "cudaStreamEndCapture returned no graph";
  cudaGraphExec_t exec = nullptr;
  if (failure.empty()) {
    cudaError_t ist = cudaGraphInstantiateWithFlags(&exec, graph, 0);
    if (ist != cudaSuccess) failure = format("cudaGraphInstantiate: %s", cudaGetErrorString(ist));
  }
  if (graph != nullptr) cudaGraphDestroy(graph);  // the executable graph keeps what it needs
  if (!failure.empty()) {
    cudaGetLastError();  // clear the (non-sticky) status an invalidated capture leaves; the stream stays usable
    // The captured work never runs: its blocks are free for eager use again (ordered on the stream as ever).
    return_to_cache(device, blocks);
    fail(JSW_ERR_UNSUPPORTED, format("CUDA graph capture on cuda:%d failed, nothing was recorded: %s", device,
                                     failure.c_str()));
  }
  return new Graph{device, exec, std::move(blocks)};
}

void graph_launch(void* handle) {
  Graph* g = static_cast<Graph*>(handle);
  if (capturing(g->device))
    refuse_in_capture(g->device, format("jsw_graph_launch during a capture of cuda:%d: nested graphs are not "
                                        "supported", g->device));
  JSW_CUDA_CHECK(cudaGraphLaunch(g->exec, stream(g->device)));
}

void graph_destroy(void* handle) {
  Graph* g = static_cast<Graph*>(handle);
  if (capturing(g->device))
    refuse_in_capture(g->device, format("jsw_graph_destroy during a capture of cuda:%d: it waits for the device "
                                        "(destroy graphs after jsw_graph_end)", g->device));
  // The blocks may still be in use by a queued replay: wait, then hand them back.
  JSW_CUDA_CHECK(cudaStreamSynchronize(stream(g->device)));
  JSW_CUDA_CHECK(cudaGraphExecDestroy(g->exec));
  return_to_cache(g->device, g->blocks);
  delete g;
}

}  // namespace cuda
}  // namespace jsw
