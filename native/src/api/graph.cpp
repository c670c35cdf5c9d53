// C ABI: graphs of a device's work (jsw_graph_* in jswift.h). A CUDA device captures its jswift stream into a
// CUDA graph (cuda/graph.cpp); the CPU records its API calls and replays them (core/cpu_graph.h), which runs the
// same rules without a GPU.
#include "core/dispatch.h"
#include "jswift/jswift.h"

#ifdef JSWIFT_WITH_CUDA
#include "cuda/graph.h"
#endif

using namespace jsw;

namespace {
// What jsw_graph_end hands out: which device's graph it is, and that device's own handle.
struct GraphHandle {
  int device;
  void* impl;
};
}  // namespace

extern "C" int jsw_graph_begin(int device) {
  JSW_API_BEGIN
  require_device(device, "jsw_graph_begin");
  if (device == JSW_CPU) {
    cpu_graph::begin();
  } else {
    JSW_CUDA_ONLY(cuda::graph_begin(device));
  }
  JSW_API_END
}

extern "C" int jsw_graph_end(int device, void** graph) {
  JSW_API_BEGIN
  require_ptr(graph, "jsw_graph_end", "graph");
  *graph = nullptr;
  require_device(device, "jsw_graph_end");
  void* impl = nullptr;
  if (device == JSW_CPU) {
    impl = cpu_graph::end();
  } else {
    JSW_CUDA_ONLY(impl = cuda::graph_end(device));
  }
  *graph = new GraphHandle{device, impl};
  JSW_API_END
}

extern "C" int jsw_graph_launch(void* graph) {
  JSW_API_BEGIN
  require_ptr(graph, "jsw_graph_launch", "graph");
  GraphHandle* g = static_cast<GraphHandle*>(graph);
  if (g->device == JSW_CPU) {
    cpu_graph::launch(g->impl);
  } else {
    JSW_CUDA_ONLY(cuda::graph_launch(g->impl));
  }
  JSW_API_END
}

extern "C" int jsw_graph_destroy(void* graph) {
  JSW_API_BEGIN
  if (graph == nullptr) return JSW_OK;
  GraphHandle* g = static_cast<GraphHandle*>(graph);
  if (g->device == JSW_CPU) {
    cpu_graph::destroy(g->impl);
  } else {
    JSW_CUDA_ONLY(cuda::graph_destroy(g->impl));
  }
  delete g;
  JSW_API_END
}
