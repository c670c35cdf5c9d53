// CUDA graphs of the jswift stream (contract: jsw_graph_* in jswift.h; implementation: cuda/graph.cpp).
#pragma once

namespace jsw {
namespace cuda {

void graph_begin(int device);
// The instantiated graph (an opaque handle for the C ABI).
void* graph_end(int device);
void graph_launch(void* graph);
void graph_destroy(void* graph);

}  // namespace cuda
}  // namespace jsw
