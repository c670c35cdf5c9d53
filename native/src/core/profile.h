// Per-op timing at the C ABI (jsw_profile_start / jsw_profile_stop, or JSWIFT_PROFILE=1 for the whole process):
// where a training step's or a decode token's time goes, op by op, without a GPU profiler. While it is on, every
// API call (JSW_API_BEGIN) waits for the device before it returns, so its time is the device time of what it
// queued plus the launch; the report also gives the wall time since the start, whose difference from the ops'
// sum is the caller's own time (the JVM's, between calls).
#pragma once

#include <chrono>
#include <string>

namespace jsw {
namespace profile {

// Whether timing is on (a relaxed read: the cost of a call when it is off).
bool enabled();
void start();
// Prints the table under `label` to stderr and stops.
void stop(const char* label);
// The table so far, as stop() would print it (without stopping).
std::string table(const char* label);

// The CUDA build registers how to wait for every device stream (the CPU's ops are synchronous already).
void set_device_wait(void (*wait)());

// Times one API call: JSW_API_BEGIN declares one with the function's name. Nested calls count once, outermost.
class Scope {
 public:
  explicit Scope(const char* op);
  ~Scope();
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;

 private:
  const char* op_;
  bool timed_;
  std::chrono::steady_clock::time_point t0_;
};

}  // namespace profile
}  // namespace jsw
