// C ABI: CUDA graphs of the jswift stream (jsw_graph_* in jswift.h). Only CUDA devices of a CUDA build capture;
// everything else is JSW_ERR_UNSUPPORTED with a message that says why, so a caller can fall back to eager ops.
#include "core/dispatch.h"
#include "jswift/jswift.h"

#ifdef JSWIFT_WITH_CUDA
#include "cuda/graph.h"
#endif

using namespace jsw;

namespace {
void require_capturable(int device, const char* op) {
#ifndef JSWIFT_WITH_CUDA
  (void)device;
  fail(JSW_ERR_UNSUPPORTED, format("%s: CUDA graphs need a CUDA build of jswift; this one was built without CUDA "
                                   "(run the steps eagerly)", op));
#else
  if (device == JSW_CPU)
    fail(JSW_ERR_UNSUPPORTED, format("%s: CUDA graphs capture a CUDA device's stream; the CPU (device -1) runs its "
                                     "ops eagerly", op));
  require_device(device, op);
#endif
}

void require_graph(const void* graph, const char* op) {
#ifndef JSWIFT_WITH_CUDA
  (void)graph;
  fail(JSW_ERR_UNSUPPORTED, format("%s: CUDA graphs need a CUDA build of jswift; this one was built without CUDA",
                                   op));
#else
  require_ptr(graph, op, "graph");
#endif
}
}  // namespace

extern "C" int jsw_graph_begin(int device) {
  JSW_API_BEGIN
  require_capturable(device, "jsw_graph_begin");
  JSW_CUDA_ONLY(cuda::graph_begin(device));
  JSW_API_END
}

extern "C" int jsw_graph_end(int device, void** graph) {
  JSW_API_BEGIN
  require_ptr(graph, "jsw_graph_end", "graph");
  *graph = nullptr;
  require_capturable(device, "jsw_graph_end");
  JSW_CUDA_ONLY(*graph = cuda::graph_end(device));
  JSW_API_END
}

extern "C" int jsw_graph_launch(void* graph) {
  JSW_API_BEGIN
  require_graph(graph, "jsw_graph_launch");
  JSW_CUDA_ONLY(cuda::graph_launch(graph));
  JSW_API_END
}

extern "C" int jsw_graph_destroy(void* graph) {
  JSW_API_BEGIN
  if (graph == nullptr) return JSW_OK;
  require_graph(graph, "jsw_graph_destroy");
  JSW_CUDA_ONLY(cuda::graph_destroy(graph));
  JSW_API_END
}
