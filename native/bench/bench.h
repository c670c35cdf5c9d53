// Kernel benchmarks of the native engine on one device (CUDA by default; --device -1 for the CPU), run by
// benchmarks/gpu/run.sh next to the same work in PyTorch. Benchmarks register with JSW_BENCH and call the
// public C ABI; each reports a median time over repetitions plus the FLOPs and bytes of one call, and the
// driver writes them as JSON for benchmarks/gpu/summarize.py.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <string>
#include <vector>

#include "jswift/jswift.h"

namespace jsw_bench {

struct Result {
  std::string name;    // e.g. "attention_fwd_bwd"
  // The parameters as "key=value" pairs ("m=8192 n=4096 k=4096 dtype=bf16"): benchmarks/gpu/torch_peer.py
  // reads them to run the same work in PyTorch, so the shapes have one source.
  std::string shape;
  double ms = 0;       // median time of one call
  double flops = 0;    // per call
  double bytes = 0;    // minimum memory traffic per call
  double peak_extra = -1;  // device memory the op allocated on top of its inputs/outputs (peak), bytes
  std::string note;
};

struct Context {
  int device;
  bool quick;   // fewer iterations
  bool tiny;    // small shapes: a dry run of the whole pipeline on a CPU
  std::vector<Result>* results;
  // The benchmark shape: the real one, or a small one in a dry run.
  int64_t pick(int64_t real, int64_t small) const { return tiny ? small : real; }
};

struct Bench {
  const char* name;
  void (*fn)(Context&);
};

std::vector<Bench>& registry();
struct Register {
  Register(const char* name, void (*fn)(Context&)) { registry().push_back({name, fn}); }
};

void check(int status, const char* what);
#define BENCH_CHECK(call) ::jsw_bench::check((call), #call)

// Device memory filled with N(0, scale) values (never zeros), freed on scope exit.
class DeviceBuffer {
 public:
  DeviceBuffer(int device, int dtype, int64_t n, uint64_t seed = 1, float scale = 1.0f);
  DeviceBuffer(int device, int64_t bytes);  // uninitialized bytes
  ~DeviceBuffer();
  DeviceBuffer(DeviceBuffer&& o) noexcept : device_(o.device_), ptr_(o.ptr_) { o.ptr_ = nullptr; }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  void* get() const { return ptr_; }
  template <class P>
  P* as() const {
    return static_cast<P*>(ptr_);
  }

 private:
  int device_;
  void* ptr_ = nullptr;
};

DeviceBuffer upload_i32(int device, const std::vector<int32_t>& v);

// A random bf16 weight [out, in] (normal, std 0.02) quantized to NF4 in bitsandbytes' layout (blocks of 64), with
// both scale forms: the plain fp32 absmax and its double quantization (8-bit codes, nested fp32 scales, the
// 256-value code table, offset).
struct Nf4Weight {
  Nf4Weight(int device, int64_t out, int64_t in, uint64_t seed);
  DeviceBuffer packed, absmax, absmax_q, nested, code256;
  float offset = 0.0f;
};

// Runs fn(variant) for each variant of a kernel switch (native/README.md, "Switches"): the first with `var` unset
// (the default path), each other with var=variant. A switch set before the run (the GPU script's fallback after
// a failed twin test) is left as it is: fn runs once, with "as-set". Afterwards var is as it was.
void for_each_variant(const char* var, std::initializer_list<const char*> variants,
                      const std::function<void(const char*)>& fn);

// Runs fn `warmup` times, then `reps` timed repetitions of `iters` calls each (synchronizing the device
// around each repetition); returns the median milliseconds per call.
double time_ms(int device, const std::function<void()>& fn, int iters, int reps = 5, int warmup = 3);
// Peak bytes the engine allocated during the last time_ms() beyond what was allocated before it (workspaces).
double last_peak_extra_bytes();

}  // namespace jsw_bench

#define JSW_BENCH(name)                                                    \
  static void name(::jsw_bench::Context&);                                 \
  static ::jsw_bench::Register bench_register_##name(#name, &name);        \
  static void name(::jsw_bench::Context& ctx)
