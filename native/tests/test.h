// A small test harness for the native twins: tests register themselves with JSW_TEST (CPU) or
// JSW_CUDA_TEST (skipped, and reported as skipped, where no CUDA device is usable). Tests call the public
// C ABI only, so they check exactly what Java and other callers see.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "jswift/jswift.h"

namespace jsw_test {

struct TestCase {
  const char* name;
  bool needs_cuda;
  void (*fn)();
};

std::vector<TestCase>& registry();

struct Register {
  Register(const char* name, bool needs_cuda, void (*fn)()) { registry().push_back({name, needs_cuda, fn}); }
};

struct Failure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Thrown by a test that cannot run in this build (the driver lists it as skipped with the reason), as a CUDA
// twin is skipped where there is no GPU.
struct Skip : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Throws Failure with the native error message unless status is JSW_OK.
void check(int status, const char* what);
#define JSW_CHECK(call) ::jsw_test::check((call), #call)
#define JSW_EXPECT(cond, ...)                                                         \
  do {                                                                                \
    if (!(cond)) {                                                                    \
      char buf_[512];                                                                 \
      std::snprintf(buf_, sizeof buf_, __VA_ARGS__);                                  \
      throw ::jsw_test::Failure(std::string(#cond " failed: ") + buf_);               \
    }                                                                                 \
  } while (0)

// Device memory owned by the test.
class Buffer {
 public:
  Buffer(int device, int64_t bytes);
  ~Buffer();
  Buffer(Buffer&& o) noexcept : device_(o.device_), ptr_(o.ptr_), bytes_(o.bytes_) { o.ptr_ = nullptr; }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  void* get() const { return ptr_; }
  template <class P>
  P* as() const {
    return static_cast<P*>(ptr_);
  }
  int device() const { return device_; }
  int64_t bytes() const { return bytes_; }

 private:
  int device_;
  void* ptr_ = nullptr;
  int64_t bytes_;
};

int64_t dtype_bytes(int dtype);
// Normal(0, scale) values from a fixed seed.
std::vector<float> randn(int64_t n, uint64_t seed, float scale = 1.0f);
std::vector<float> uniform(int64_t n, uint64_t seed, float lo, float hi);
// Rounds values to what `dtype` can store (so a CPU fp32 reference sees the same inputs as a bf16 kernel).
std::vector<float> round_to(const std::vector<float>& v, int dtype);
// Host fp32 values -> a new buffer of `dtype` on `device`, and back.
Buffer upload(int device, int dtype, const std::vector<float>& host);
Buffer upload_i32(int device, const std::vector<int32_t>& host);
Buffer upload_u8(int device, const std::vector<uint8_t>& host);
std::vector<float> download(const Buffer& b, int dtype, int64_t n);
std::vector<int32_t> download_i32(const Buffer& b, int64_t n);
std::vector<uint8_t> download_u8(const Buffer& b, int64_t n);
// A buffer of `dtype` filled with a NaN poison value, so unwritten outputs are caught.
Buffer poisoned(int device, int dtype, int64_t n);
Buffer zeros(int device, int dtype, int64_t n);

// Compares element-wise: |got - want| <= atol + rtol * |want|, no NaN. Throws Failure with the worst element.
void expect_close(const std::string& what, const std::vector<float>& got, const std::vector<float>& want, float atol,
                  float rtol);
// ||got - want|| / ||want|| <= tol (the METHOD.md relative-norm criterion), no NaN.
void expect_rel_norm(const std::string& what, const std::vector<float>& got, const std::vector<float>& want,
                     double tol);

// The device the CUDA twin tests run on: GPU 0, or the CPU under `jswift_tests --cuda-as-cpu`, which runs the
// twins' own code (packing, uploads, comparisons) on a machine without a GPU, so a bug there shows up before a
// GPU run does.
extern bool cuda_as_cpu;
inline int cuda_device() { return cuda_as_cpu ? JSW_CPU : 0; }
// For a twin test that checks what only the CUDA build does (device-side error flags, graphs): skipped under
// --cuda-as-cpu, where the CPU does it its own documented way.
inline void cuda_only_behaviour(const char* what) {
  if (cuda_as_cpu) throw Skip(std::string("checks CUDA-only behaviour (") + what + ")");
}

// Runs fn with environment variable `name` set to `value` (unset when value is null), restoring it afterwards:
// a kernel switch (native/README.md, "Switches") for a test of the path it selects.
template <class Fn>
void with_env(const char* name, const char* value, Fn fn) {
  const char* before = std::getenv(name);
  const std::string saved = before ? before : "";
  auto restore = [&] { before ? setenv(name, saved.c_str(), 1) : unsetenv(name); };
  value ? setenv(name, value, 1) : unsetenv(name);
  try {
    fn();
  } catch (...) {
    restore();
    throw;
  }
  restore();
}

// Runs fn with JSWIFT_CPU_ISA=baseline: on an AVX-512 machine the kernels with two instruction-set builds would
// otherwise never run their baseline (AVX2) build in the tests.
template <class Fn>
void with_baseline_isa(Fn fn) {
  with_env("JSWIFT_CPU_ISA", "baseline", fn);
}

}  // namespace jsw_test

#define JSW_TEST_IMPL(name, cuda)                                                  \
  static void name();                                                              \
  static ::jsw_test::Register register_##name(#name, cuda, &name);                 \
  static void name()
#define JSW_TEST(name) JSW_TEST_IMPL(name, false)
#define JSW_CUDA_TEST(name) JSW_TEST_IMPL(name, true)
