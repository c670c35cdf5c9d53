#include "core/error.h"

#include <cstdarg>
#include <cstdio>

#include "core/device.h"

namespace jsw {

namespace {
thread_local std::string last_error;

std::string vformat(const char* fmt, va_list args) {
  va_list copy;
  va_copy(copy, args);
  int n = std::vsnprintf(nullptr, 0, fmt, copy);
  va_end(copy);
  if (n < 0) return fmt;
  std::string out(static_cast<size_t>(n), '\0');
  std::vsnprintf(out.data(), out.size() + 1, fmt, args);
  return out;
}
}  // namespace

int set_last_error(int status, const std::string& message) {
  last_error = message;
  return status;
}

void clear_last_error() { last_error.clear(); }

const char* last_error_message() { return last_error.c_str(); }

std::string format(const char* fmt, ...) {
  va_list args;
  va_start(args, fmt);
  std::string s = vformat(fmt, args);
  va_end(args);
  return s;
}

void fail(int status, const std::string& message) { throw Error(status, message); }

void require(bool condition, const char* op, const char* fmt, ...) {
  if (condition) return;
  va_list args;
  va_start(args, fmt);
  std::string s = vformat(fmt, args);
  va_end(args);
  throw Error(JSW_ERR_INVALID_ARGUMENT, std::string(op) + ": " + s);
}

void require_ptr(const void* p, const char* op, const char* name) {
  if (p == nullptr) throw Error(JSW_ERR_INVALID_ARGUMENT, format("%s: %s is a null pointer", op, name));
}

void require_positive(int64_t v, const char* op, const char* name) {
  if (v <= 0) throw Error(JSW_ERR_INVALID_ARGUMENT, format("%s: %s must be > 0, got %lld", op, name, (long long)v));
}

void require_non_negative(int64_t v, const char* op, const char* name) {
  if (v < 0) throw Error(JSW_ERR_INVALID_ARGUMENT, format("%s: %s must be >= 0, got %lld", op, name, (long long)v));
}

void require_float_dtype(int dtype, const char* op) {
  if (dtype != JSW_F32 && dtype != JSW_BF16 && dtype != JSW_F16)
    throw Error(JSW_ERR_INVALID_ARGUMENT,
                format("%s: dtype %d is not a floating-point storage type (f32=0, bf16=1, f16=2)", op, dtype));
}

void require_device(int device, const char* op) {
  if (device == JSW_CPU) return;
  if (device < 0) throw Error(JSW_ERR_INVALID_ARGUMENT, format("%s: invalid device %d", op, device));
  if (!cuda_compiled())
    throw Error(JSW_ERR_NO_DEVICE, format("%s: device cuda:%d requested but jswift was built without CUDA", op, device));
  int count = cuda_device_count();
  if (device >= count)
    throw Error(JSW_ERR_NO_DEVICE,
                format("%s: device cuda:%d requested but %d CUDA device(s) are usable", op, device, count));
}

}  // namespace jsw
