// Runs every registered native test. CUDA twin tests run when a CUDA device is usable and are otherwise
// listed as skipped with the reason. `--json FILE` writes the results (used by benchmarks/gpu/run.sh);
// `--filter SUBSTRING` runs a subset, `--exact NAME` one test, `--list` prints the names (with "cuda" for the
// CUDA twins) and runs nothing, `--cuda-as-cpu` runs the CUDA twin tests with the CPU standing in for the GPU
// (test.h, cuda_device). Exit status 1 if any test failed.
#include <chrono>
#include <cstring>
#include <fstream>

#include "test.h"

namespace jsw_test {

bool cuda_as_cpu = false;

std::vector<TestCase>& registry() {
  static std::vector<TestCase> tests;
  return tests;
}

void check(int status, const char* what) {
  if (status != JSW_OK) throw Failure(std::string(what) + " -> status " + std::to_string(status) + ": " + jsw_last_error());
}

Buffer::Buffer(int device, int64_t bytes) : device_(device), bytes_(bytes) {
  check(jsw_malloc(device, bytes, &ptr_), "jsw_malloc");
}
Buffer::~Buffer() {
  if (ptr_ != nullptr) jsw_free(device_, ptr_);
}

int64_t dtype_bytes(int dtype) {
  switch (dtype) {
    case JSW_F32: case JSW_I32: return 4;
    case JSW_BF16: case JSW_F16: return 2;
    case JSW_I64: return 8;
    default: return 1;
  }
}

std::vector<float> randn(int64_t n, uint64_t seed, float scale) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = d(rng);
  return v;
}

std::vector<float> uniform(int64_t n, uint64_t seed, float lo, float hi) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = d(rng);
  return v;
}

std::vector<float> round_to(const std::vector<float>& v, int dtype) {
  if (dtype == JSW_F32) return v;
  Buffer a = upload(JSW_CPU, dtype, v);
  return download(a, dtype, int64_t(v.size()));
}

Buffer upload(int device, int dtype, const std::vector<float>& host) {
  int64_t n = int64_t(host.size());
  Buffer f32(JSW_CPU, n * 4);
  std::memcpy(f32.get(), host.data(), size_t(n) * 4);
  Buffer staged(JSW_CPU, n * dtype_bytes(dtype));
  check(jsw_cast(JSW_CPU, JSW_F32, f32.get(), dtype, staged.get(), n), "jsw_cast (upload)");
  Buffer out(device, n * dtype_bytes(dtype));
  check(jsw_memcpy(out.get(), device, staged.get(), JSW_CPU, n * dtype_bytes(dtype)), "jsw_memcpy (upload)");
  return out;
}

Buffer upload_i32(int device, const std::vector<int32_t>& host) {
  Buffer out(device, int64_t(host.size()) * 4);
  check(jsw_memcpy(out.get(), device, host.data(), JSW_CPU, int64_t(host.size()) * 4), "jsw_memcpy");
  return out;
}

Buffer upload_u8(int device, const std::vector<uint8_t>& host) {
  Buffer out(device, int64_t(host.size()));
  check(jsw_memcpy(out.get(), device, host.data(), JSW_CPU, int64_t(host.size())), "jsw_memcpy");
  return out;
}

std::vector<float> download(const Buffer& b, int dtype, int64_t n) {
  Buffer staged(JSW_CPU, n * dtype_bytes(dtype));
  check(jsw_memcpy(staged.get(), JSW_CPU, b.get(), b.device(), n * dtype_bytes(dtype)), "jsw_memcpy (download)");
  std::vector<float> out(static_cast<size_t>(n));
  if (dtype == JSW_F32) {
    std::memcpy(out.data(), staged.get(), size_t(n) * 4);
  } else {
    Buffer f32(JSW_CPU, n * 4);
    check(jsw_cast(JSW_CPU, dtype, staged.get(), JSW_F32, f32.get(), n), "jsw_cast (download)");
    std::memcpy(out.data(), f32.get(), size_t(n) * 4);
  }
  return out;
}

std::vector<int32_t> download_i32(const Buffer& b, int64_t n) {
  std::vector<int32_t> out(static_cast<size_t>(n));
  check(jsw_memcpy(out.data(), JSW_CPU, b.get(), b.device(), n * 4), "jsw_memcpy");
  return out;
}

std::vector<uint8_t> download_u8(const Buffer& b, int64_t n) {
  std::vector<uint8_t> out(static_cast<size_t>(n));
  check(jsw_memcpy(out.data(), JSW_CPU, b.get(), b.device(), n), "jsw_memcpy");
  return out;
}

Buffer poisoned(int device, int dtype, int64_t n) {
  Buffer b(device, n * dtype_bytes(dtype));
  check(jsw_memset(device, b.get(), 0xff, n * dtype_bytes(dtype)), "jsw_memset");  // all-ones bits: NaN
  return b;
}

Buffer zeros(int device, int dtype, int64_t n) {
  Buffer b(device, n * dtype_bytes(dtype));
  check(jsw_memset(device, b.get(), 0, n * dtype_bytes(dtype)), "jsw_memset");
  return b;
}

void expect_close(const std::string& what, const std::vector<float>& got, const std::vector<float>& want, float atol,
                  float rtol) {
  if (got.size() != want.size())
    throw Failure(what + ": size " + std::to_string(got.size()) + " != " + std::to_string(want.size()));
  size_t worst = 0;
  double worst_excess = -1.0;
  for (size_t i = 0; i < got.size(); i++) {
    double err = std::fabs(double(got[i]) - double(want[i]));
    double bound = atol + rtol * std::fabs(double(want[i]));
    if (std::isnan(got[i]) != std::isnan(want[i])) err = INFINITY;
    if (err - bound > worst_excess) {
      worst_excess = err - bound;
      worst = i;
    }
  }
  if (worst_excess > 0.0) {
    char buf[512];
    std::snprintf(buf, sizeof buf, "%s: element %zu got %.8g want %.8g (atol %g, rtol %g)", what.c_str(), worst,
                  double(got[worst]), double(want[worst]), double(atol), double(rtol));
    throw Failure(buf);
  }
}

void expect_rel_norm(const std::string& what, const std::vector<float>& got, const std::vector<float>& want,
                     double tol) {
  if (got.size() != want.size())
    throw Failure(what + ": size " + std::to_string(got.size()) + " != " + std::to_string(want.size()));
  double num = 0.0, den = 0.0;
  for (size_t i = 0; i < got.size(); i++) {
    if (std::isnan(got[i])) throw Failure(what + ": NaN at element " + std::to_string(i));
    double d = double(got[i]) - double(want[i]);
    num += d * d;
    den += double(want[i]) * double(want[i]);
  }
  double rel = std::sqrt(num) / (std::sqrt(den) + 1e-30);
  if (rel > tol) {
    char buf[256];
    std::snprintf(buf, sizeof buf, "%s: relative error %.3e > %.1e", what.c_str(), rel, tol);
    throw Failure(buf);
  }
}

}  // namespace jsw_test

int main(int argc, char** argv) {
  const char* json_path = nullptr;
  const char* filter = nullptr;
  const char* exact = nullptr;
  bool list = false;
  for (int i = 1; i < argc; i++) {
    if (!std::strcmp(argv[i], "--json") && i + 1 < argc) json_path = argv[++i];
    else if (!std::strcmp(argv[i], "--filter") && i + 1 < argc) filter = argv[++i];
    else if (!std::strcmp(argv[i], "--exact") && i + 1 < argc) exact = argv[++i];
    else if (!std::strcmp(argv[i], "--list")) list = true;
    else if (!std::strcmp(argv[i], "--cuda-as-cpu")) jsw_test::cuda_as_cpu = true;
  }
  if (list) {
    for (const auto& t : jsw_test::registry()) std::printf("%s%s\n", t.name, t.needs_cuda ? " cuda" : "");
    return 0;
  }
  // Line by line even into a pipe: if a kernel kills the process, the log still names the tests that ran.
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  int devices = jsw_cuda_device_count();
  std::printf("%s\nCUDA devices: %d\n", jsw_build_info(), devices);
  std::string skip_reason = !jsw_cuda_compiled() ? "built without CUDA" : "no CUDA device";
  int passed = 0, failed = 0, skipped = 0, skipped_no_gpu = 0;
  std::string json = "{\"tests\":[";
  bool first = true;
  for (const auto& t : jsw_test::registry()) {
    if (filter != nullptr && std::strstr(t.name, filter) == nullptr) continue;
    if (exact != nullptr && std::strcmp(t.name, exact) != 0) continue;
    std::string status, detail;
    auto t0 = std::chrono::steady_clock::now();
    if (t.needs_cuda && devices == 0 && !jsw_test::cuda_as_cpu) {
      status = "skipped";
      detail = skip_reason;
      skipped++;
      skipped_no_gpu++;
    } else {
      try {
        t.fn();
        status = "passed";
        passed++;
      } catch (const jsw_test::Skip& e) {
        status = "skipped";
        detail = e.what();
        skipped++;
      } catch (const std::exception& e) {
        status = "failed";
        detail = e.what();
        failed++;
      }
    }
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("%-8s %s%s%s (%.2f s)\n", status == "passed" ? "PASS" : status == "failed" ? "FAIL" : "SKIPPED", t.name,
                detail.empty() ? "" : ": ", detail.c_str(), seconds);
    std::string esc;
    for (char c : detail) {
      if (c == '"' || c == '\\') esc += '\\';
      esc += (c == '\n' ? ' ' : c);
    }
    json += std::string(first ? "" : ",") + "{\"name\":\"" + t.name + "\",\"status\":\"" + status +
            "\",\"detail\":\"" + esc + "\",\"seconds\":" + std::to_string(seconds) + "}";
    first = false;
  }
  json += "],\"passed\":" + std::to_string(passed) + ",\"failed\":" + std::to_string(failed) +
          ",\"skipped\":" + std::to_string(skipped) + "}";
  std::printf("native tests: %d passed, %d failed, %d skipped%s\n", passed, failed, skipped,
              skipped_no_gpu > 0 ? (" (CUDA twin tests skipped: " + skip_reason + ")").c_str() : "");
  if (json_path != nullptr) std::ofstream(json_path) << json << "\n";
  return failed == 0 ? 0 : 1;
}
