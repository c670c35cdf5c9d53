// The per-op profiler (jsw_profile_*): while it is on, every API call is counted under its function's name and
// timed; the table lists the ops by time; stopping it stops the counting.
#include <cstring>
#include <string>

#include "test.h"

using namespace jsw_test;

namespace {

std::string table() {
  int64_t need = jsw_profile_table("test", nullptr, 0);
  if (need <= 0) throw Failure("jsw_profile_table returned " + std::to_string(need));
  std::string t(size_t(need), '\0');
  JSW_EXPECT(jsw_profile_table("test", &t[0], need) == need, "the same size twice");
  t.resize(std::strlen(t.c_str()));
  return t;
}

// The row of `op`: its call count (0 when it has no row).
long long calls_of(const std::string& t, const std::string& op) {
  size_t at = t.find("  " + op + " ");
  if (at == std::string::npos) return 0;
  return std::stoll(t.substr(at + 2 + op.size()));
}

}  // namespace

JSW_TEST(profile_counts_each_api_call_under_its_name) {
  std::vector<float> x(1000, 1.5f), y(1000);
  JSW_CHECK(jsw_profile_start());
  for (int i = 0; i < 3; i++) JSW_CHECK(jsw_cast(JSW_CPU, JSW_F32, x.data(), JSW_F32, y.data(), 1000));
  JSW_CHECK(jsw_memset(JSW_CPU, y.data(), 0, 4000));
  JSW_EXPECT(jsw_cast(JSW_CPU, JSW_F32, nullptr, JSW_F32, y.data(), 1000) != JSW_OK, "a failing call");
  std::string t = table();
  JSW_EXPECT(t.find("jswift profile: test: 5 calls") != std::string::npos, "header: %s", t.c_str());
  JSW_EXPECT(calls_of(t, "jsw_cast") == 4, "jsw_cast counted 4 times (failed calls too): %s", t.c_str());
  JSW_EXPECT(calls_of(t, "jsw_memset") == 1, "jsw_memset once: %s", t.c_str());
  JSW_CHECK(jsw_profile_stop("test (stopping)"));
  JSW_CHECK(jsw_cast(JSW_CPU, JSW_F32, x.data(), JSW_F32, y.data(), 1000));
  JSW_EXPECT(calls_of(table(), "jsw_cast") == 4, "nothing is counted after the stop");
  // A restart clears the table.
  JSW_CHECK(jsw_profile_start());
  JSW_EXPECT(calls_of(table(), "jsw_cast") == 0, "a new start begins empty");
  JSW_CHECK(jsw_profile_stop("test (empty)"));
  // A short buffer gets a cut, terminated table; the return value still says what the whole one needs.
  char small[8];
  int64_t need = jsw_profile_table("test", small, sizeof small);
  JSW_EXPECT(need > 8 && std::strlen(small) == 7, "cut to the buffer: need %lld", (long long)need);
  JSW_EXPECT(jsw_profile_table("test", nullptr, 5) == JSW_ERR_INVALID_ARGUMENT, "a null buffer with a capacity");
}
