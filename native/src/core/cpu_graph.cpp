#include "core/cpu_graph.h"

#include <memory>
#include <utility>
#include <vector>

#include "core/error.h"
#include "core/memory.h"

namespace jsw {
namespace cpu_graph {

namespace {

struct Op {
  const char* name;
  std::function<void()> run;
};

struct Graph {
  std::vector<Op> ops;
  std::vector<void*> blocks;  // freed during the capture: the replays write them; freed at destroy
};

// The capture of this thread (null when it captures nothing) and its first refusal.
thread_local std::unique_ptr<Graph> recording;
thread_local std::string failure;

void free_blocks(Graph* g) {
  for (void* p : g->blocks) cpu::release(p);
  g->blocks.clear();
}

}  // namespace

bool capturing() { return recording != nullptr; }

void record(const char* name, std::function<void()> op) { recording->ops.push_back(Op{name, std::move(op)}); }

void refuse(const std::string& what) {
  if (failure.empty()) failure = what;
  fail(JSW_ERR_UNSUPPORTED, what);
}

void keep_freed_block(void* ptr) { recording->blocks.push_back(ptr); }

void begin() {
  if (recording)
    fail(JSW_ERR_INVALID_ARGUMENT, "jsw_graph_begin: this thread is already capturing the CPU (call jsw_graph_end "
                                   "first)");
  failure.clear();
  recording = std::make_unique<Graph>();
}

void* end() {
  if (!recording)
    fail(JSW_ERR_INVALID_ARGUMENT, "jsw_graph_end: this thread is not capturing the CPU (call jsw_graph_begin "
                                   "first)");
  std::unique_ptr<Graph> g = std::move(recording);
  if (!failure.empty()) {
    std::string why;
    why.swap(failure);
    free_blocks(g.get());  // nothing will replay: the blocks are free for eager use again
    fail(JSW_ERR_UNSUPPORTED, format("CPU graph capture failed, nothing was recorded: %s", why.c_str()));
  }
  return g.release();
}

void launch(void* handle) {
  if (recording) refuse("jsw_graph_launch during a capture of the CPU: nested graphs are not supported");
  Graph* g = static_cast<Graph*>(handle);
  for (size_t i = 0; i < g->ops.size(); i++) {
    try {
      g->ops[i].run();
    } catch (const Error& e) {
      fail(e.status(), format("replay of a CPU graph, op %zu of %zu (%s): %s", i + 1, g->ops.size(), g->ops[i].name,
                              e.what()));
    }
  }
}

void destroy(void* handle) {
  if (recording)
    refuse("jsw_graph_destroy during a capture of the CPU (destroy graphs after jsw_graph_end)");
  Graph* g = static_cast<Graph*>(handle);
  free_blocks(g);
  delete g;
}

}  // namespace cpu_graph
}  // namespace jsw
