// Graphs of the CPU device: the CPU's twin of a CUDA graph capture (jsw_graph_begin(JSW_CPU)).
//
// While a thread captures the CPU, each API call that would compute on the CPU is checked as usual and then
// recorded instead of run; jsw_graph_launch runs the records in order. The rules are CUDA's (jswift.h): blocks
// freed during the capture belong to the graph until it is destroyed, a copy to or from host memory (outside
// jsw_malloc's blocks) and jsw_synchronize are refused, and pointers and scalars are baked in. Replaying saves
// nothing on a CPU; what it gives is a graph path (fixed shapes, per-step values in memory, no host read inside
// the step) that can be tested without a GPU: a step that would replay wrongly on CUDA replays wrongly here too.
#pragma once

#include <functional>
#include <string>

namespace jsw {
namespace cpu_graph {

// True while this thread captures the CPU device.
bool capturing();
// During a capture: appends an op (`name`: the API call, for a replay's error message).
void record(const char* name, std::function<void()> op);
// During a capture: records `what` as the first reason the capture is broken and throws JSW_ERR_UNSUPPORTED.
[[noreturn]] void refuse(const std::string& what);
// During a capture: the block (one of cpu::alloc's) is kept by the graph and freed when it is destroyed.
void keep_freed_block(void* ptr);

void begin();
void* end();  // the graph (opaque), or throws the first refusal of the capture
void launch(void* graph);
void destroy(void* graph);

}  // namespace cpu_graph
}  // namespace jsw

// Runs a CPU computation now, or records it when this thread captures the CPU (arguments are copied: pointers
// and scalars are baked in, as a CUDA graph bakes its kernels' parameters).
#define JSW_CPU_RUN(...)                                                 \
  do {                                                                   \
    if (::jsw::cpu_graph::capturing()) {                                 \
      ::jsw::cpu_graph::record(__func__, [=]() { __VA_ARGS__; });        \
    } else {                                                             \
      __VA_ARGS__;                                                       \
    }                                                                    \
  } while (0)
