// The benchmark driver: jswift_bench [--device N] [--quick] [--tiny] [--filter S] [--json FILE]
// --tiny shrinks every shape (a dry run of the pipeline, e.g. on a CPU with --device -1).
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <stdexcept>

#include "bench.h"

namespace jsw_bench {

std::vector<Bench>& registry() {
  static std::vector<Bench> benches;
  return benches;
}

void check(int status, const char* what) {
  if (status != JSW_OK) throw std::runtime_error(std::string(what) + ": " + jsw_last_error());
}

static int64_t dtype_bytes(int dtype) {
  switch (dtype) {
    case JSW_F32: case JSW_I32: return 4;
    case JSW_BF16: case JSW_F16: return 2;
    case JSW_I64: return 8;
    default: return 1;
  }
}

DeviceBuffer::DeviceBuffer(int device, int dtype, int64_t n, uint64_t seed, float scale) : device_(device) {
  std::vector<float> host(static_cast<size_t>(n));
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> d(0.0f, scale);
  for (auto& x : host) x = d(rng);
  void* f32 = nullptr;
  check(jsw_malloc(device, n * 4, &f32), "jsw_malloc");
  check(jsw_memcpy(f32, device, host.data(), JSW_CPU, n * 4), "jsw_memcpy");
  check(jsw_malloc(device, n * dtype_bytes(dtype), &ptr_), "jsw_malloc");
  if (dtype == JSW_F32 || dtype == JSW_BF16 || dtype == JSW_F16) {
    check(jsw_cast(device, JSW_F32, f32, dtype, ptr_, n), "jsw_cast");
  } else {
    check(jsw_memset(device, ptr_, 1, n * dtype_bytes(dtype)), "jsw_memset");
  }
  check(jsw_synchronize(device), "jsw_synchronize");
  jsw_free(device, f32);
}

DeviceBuffer::DeviceBuffer(int device, int64_t bytes) : device_(device) {
  check(jsw_malloc(device, bytes, &ptr_), "jsw_malloc");
}

DeviceBuffer::~DeviceBuffer() {
  if (ptr_ != nullptr) jsw_free(device_, ptr_);
}

DeviceBuffer upload_i32(int device, const std::vector<int32_t>& v) {
  DeviceBuffer b(device, int64_t(v.size()) * 4);
  check(jsw_memcpy(b.get(), device, v.data(), JSW_CPU, int64_t(v.size()) * 4), "jsw_memcpy");
  return b;
}

Nf4Weight::Nf4Weight(int device, int64_t out, int64_t in, uint64_t seed)
    : packed(device, out * in / 2),
      absmax(device, out * in / 64 * 4),
      absmax_q(device, out * in / 64),
      nested(device, (out * in / 64 + 255) / 256 * 4),
      code256(device, 256 * 4) {
  const int64_t n = out * in, blocks = n / 64;
  DeviceBuffer w(device, JSW_BF16, n, seed, 0.02f), offset_dev(device, 4);
  check(jsw_nf4_quantize(device, JSW_BF16, w.get(), n, 64, packed.as<uint8_t>(), absmax.as<float>()),
        "jsw_nf4_quantize");
  check(jsw_quantize_absmax_8bit(device, absmax.as<float>(), blocks, absmax_q.as<uint8_t>(), nested.as<float>(),
                                 offset_dev.as<float>()),
        "jsw_quantize_absmax_8bit");
  float code_host[256];
  check(jsw_dynamic_map_signed(code_host), "jsw_dynamic_map_signed");
  check(jsw_memcpy(code256.get(), device, code_host, JSW_CPU, sizeof code_host), "jsw_memcpy");
  check(jsw_memcpy(&offset, JSW_CPU, offset_dev.get(), device, 4), "jsw_memcpy");
}

void for_each_variant(const char* var, std::initializer_list<const char*> variants,
                      const std::function<void(const char*)>& fn) {
  if (std::getenv(var) != nullptr) {
    fn("as-set");
    return;
  }
  bool first = true;
  for (const char* v : variants) {
    first ? unsetenv(var) : setenv(var, v, 1);
    first = false;
    fn(v);
  }
  unsetenv(var);
}

static double peak_extra = -1;

double last_peak_extra_bytes() { return peak_extra; }

double time_ms(int device, const std::function<void()>& fn, int iters, int reps, int warmup) {
  int64_t stats[4];
  check(jsw_synchronize(device), "jsw_synchronize");
  check(jsw_memory_stats(device, stats), "jsw_memory_stats");
  int64_t before = stats[0];
  check(jsw_reset_peak_memory(device), "jsw_reset_peak_memory");
  for (int i = 0; i < warmup; i++) fn();
  check(jsw_synchronize(device), "jsw_synchronize");
  std::vector<double> per_call;
  for (int r = 0; r < reps; r++) {
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < iters; i++) fn();
    check(jsw_synchronize(device), "jsw_synchronize");
    auto t1 = std::chrono::steady_clock::now();
    per_call.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count() / iters);
  }
  check(jsw_memory_stats(device, stats), "jsw_memory_stats");
  peak_extra = double(stats[2] - before);
  std::sort(per_call.begin(), per_call.end());
  return per_call[per_call.size() / 2];
}

}  // namespace jsw_bench

int main(int argc, char** argv) {
  int device = 0;
  bool quick = false, tiny = false;
  const char* filter = nullptr;
  const char* json = nullptr;
  for (int i = 1; i < argc; i++) {
    if (!std::strcmp(argv[i], "--device") && i + 1 < argc) device = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--quick")) quick = true;
    else if (!std::strcmp(argv[i], "--tiny")) tiny = quick = true;
    else if (!std::strcmp(argv[i], "--filter") && i + 1 < argc) filter = argv[++i];
    else if (!std::strcmp(argv[i], "--json") && i + 1 < argc) json = argv[++i];
  }
  std::printf("%s\n", jsw_build_info());
  if (device >= 0 && jsw_cuda_device_count() <= device) {
    std::fprintf(stderr, "no CUDA device %d (%d usable); use --device -1 for the CPU\n", device,
                 jsw_cuda_device_count());
    return 2;
  }
  char name[256] = "cpu";
  if (device >= 0) jsw_cuda_device_name(device, name, sizeof name);
  std::vector<jsw_bench::Result> results;
  jsw_bench::Context ctx{device, quick, tiny, &results};
  int failures = 0;
  std::string errors;
  for (const auto& b : jsw_bench::registry()) {
    if (filter != nullptr && std::strstr(b.name, filter) == nullptr) continue;
    try {
      b.fn(ctx);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "bench %s failed: %s\n", b.name, e.what());
      errors += std::string(errors.empty() ? "" : "; ") + b.name + ": " + e.what();
      failures++;
    }
  }
  std::printf("%-24s %-44s %10s %10s %10s\n", "bench", "shape", "ms", "TFLOP/s", "GB/s");
  for (const auto& r : results)
    std::printf("%-24s %-44s %10.4f %10.2f %10.1f\n", r.name.c_str(), r.shape.c_str(), r.ms,
                r.flops / r.ms / 1e9, r.bytes / r.ms / 1e6);
  if (json != nullptr) {
    std::ofstream f(json);
    f << "{\"device\":\"" << name << "\",\"build\":\"" << jsw_build_info() << "\",\"results\":[";
    for (size_t i = 0; i < results.size(); i++) {
      const auto& r = results[i];
      f << (i ? "," : "") << "{\"name\":\"" << r.name << "\",\"shape\":\"" << r.shape << "\",\"ms\":" << r.ms
        << ",\"flops\":" << r.flops << ",\"bytes\":" << r.bytes << ",\"peak_extra\":" << r.peak_extra << ",\"note\":\"" << r.note << "\"}";
    }
    std::string esc;
    for (char c : errors) {
      if (c == '"' || c == '\\') esc += '\\';
      esc += c;
    }
    f << "],\"failures\":" << failures << ",\"errors\":\"" << esc << "\"}\n";
  }
  return failures == 0 ? 0 : 1;
}
