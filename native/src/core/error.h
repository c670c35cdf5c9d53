// Error handling at the C ABI boundary: C++ code throws jsw::Error; every extern "C" function wraps its body
// in JSW_API_BEGIN / JSW_API_END, which turns any exception into a status code plus a thread-local message.
// Nothing below the boundary ever aborts the process on bad input.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

#include "core/profile.h"
#include "jswift/jswift.h"

namespace jsw {

class Error : public std::runtime_error {
 public:
  Error(int status, const std::string& message) : std::runtime_error(message), status_(status) {}
  int status() const { return status_; }

 private:
  int status_;
};

// Sets the thread's last-error message; returns the status for convenience.
int set_last_error(int status, const std::string& message);
void clear_last_error();

// printf-style formatting into a std::string.
std::string format(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

[[noreturn]] void fail(int status, const std::string& message);

// Argument checks used by every op. `op` names the C function so that the message says where it failed.
void require(bool condition, const char* op, const char* fmt, ...) __attribute__((format(printf, 3, 4)));
void require_ptr(const void* p, const char* op, const char* name);
void require_positive(int64_t v, const char* op, const char* name);
void require_non_negative(int64_t v, const char* op, const char* name);
// Storage dtypes a float op accepts: f32, bf16, f16.
void require_float_dtype(int dtype, const char* op);
// Throws unless `device` is JSW_CPU or a valid CUDA device of a CUDA build.
void require_device(int device, const char* op);

}  // namespace jsw

#define JSW_API_BEGIN                               \
  ::jsw::profile::Scope jsw_profile_scope_(__func__); \
  try {
#define JSW_API_END                                                          \
  }                                                                          \
  catch (const jsw::Error& e) {                                              \
    return jsw::set_last_error(e.status(), e.what());                        \
  }                                                                          \
  catch (const std::bad_alloc&) {                                            \
    return jsw::set_last_error(JSW_ERR_OUT_OF_MEMORY, "host out of memory"); \
  }                                                                          \
  catch (const std::exception& e) {                                          \
    return jsw::set_last_error(JSW_ERR_INTERNAL, e.what());                  \
  }                                                                          \
  catch (...) {                                                              \
    return jsw::set_last_error(JSW_ERR_INTERNAL, "unknown native error");    \
  }                                                                          \
  jsw::clear_last_error();                                                   \
  return JSW_OK;
