#include "core/profile.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace jsw {
namespace profile {

namespace {

struct Stat {
  long long calls = 0;
  double seconds = 0.0;
};

std::atomic<bool> on{false};
std::atomic<void (*)()> device_wait{nullptr};
std::mutex mu;
std::map<std::string, Stat> stats;
std::chrono::steady_clock::time_point started;
thread_local int depth = 0;

std::string render(const char* label) {
  std::vector<std::pair<std::string, Stat>> rows;
  double wall;
  {
    std::lock_guard<std::mutex> lock(mu);
    rows.assign(stats.begin(), stats.end());
    wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  }
  std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.second.seconds > b.second.seconds; });
  double total = 0.0;
  long long calls = 0;
  for (const auto& r : rows) total += r.second.seconds, calls += r.second.calls;
  char line[256];
  std::string out;
  std::snprintf(line, sizeof line, "jswift profile: %s: %lld calls, %.3f ms in ops, %.3f ms wall (%.3f ms outside ops)\n",
                label, calls, total * 1e3, wall * 1e3, (wall - total) * 1e3);
  out += line;
  std::snprintf(line, sizeof line, "  %-34s %8s %11s %10s %7s\n", "op", "calls", "total ms", "mean us", "share");
  out += line;
  for (const auto& r : rows) {
    std::snprintf(line, sizeof line, "  %-34s %8lld %11.3f %10.1f %6.1f%%\n", r.first.c_str(), r.second.calls,
                  r.second.seconds * 1e3, r.second.seconds * 1e6 / double(r.second.calls),
                  total > 0 ? 100.0 * r.second.seconds / total : 0.0);
    out += line;
  }
  return out;
}

// JSWIFT_PROFILE=1: on from the first call, printed at exit.
struct FromEnvironment {
  FromEnvironment() {
    const char* v = std::getenv("JSWIFT_PROFILE");
    if (v != nullptr && std::strcmp(v, "1") == 0) {
      start();
      std::atexit([] { stop("whole process (JSWIFT_PROFILE=1)"); });
    }
  }
} from_environment;

}  // namespace

bool enabled() { return on.load(std::memory_order_relaxed); }

void start() {
  std::lock_guard<std::mutex> lock(mu);
  stats.clear();
  started = std::chrono::steady_clock::now();
  on.store(true);
}

void stop(const char* label) {
  if (!on.exchange(false)) return;
  std::fputs(render(label).c_str(), stderr);
  std::fflush(stderr);
}

std::string table(const char* label) { return render(label); }

void set_device_wait(void (*wait)()) { device_wait.store(wait); }

Scope::Scope(const char* op) : op_(op), timed_(enabled() && depth == 0) {
  depth++;
  if (timed_) t0_ = std::chrono::steady_clock::now();
}

Scope::~Scope() {
  depth--;
  if (!timed_) return;
  if (auto wait = device_wait.load()) wait();
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
  std::lock_guard<std::mutex> lock(mu);
  Stat& st = stats[op_];
  st.calls++;
  st.seconds += s;
}

}  // namespace profile
}  // namespace jsw
