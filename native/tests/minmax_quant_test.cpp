// Min-max group quantization (Q-GaLore INT4 / INT8): hand-computed bytes, codes against an independent fp64
// reference, the error bound of nearest rounding, unbiased and reproducible stochastic rounding, bad arguments,
// and bit-identical bytes and values of the CUDA twin.
#include <algorithm>
#include <cstring>

#include "test.h"

using namespace jsw_test;

namespace {

struct Quantized {
  std::vector<uint8_t> codes;
  std::vector<float> scales, zeros;
};

int64_t code_bytes(int64_t n, int bits) { return bits == 8 ? n : (n + 1) / 2; }

Quantized quantize(int device, int dtype, const std::vector<float>& x, int64_t group, int bits, bool sr,
                   uint64_t seed) {
  int64_t n = int64_t(x.size()), bytes = code_bytes(n, bits), groups = (n + group - 1) / group;
  Buffer bx = upload(device, dtype, x), codes(device, bytes);
  Buffer scales = poisoned(device, JSW_F32, groups), zeros = poisoned(device, JSW_F32, groups);
  JSW_CHECK(jsw_memset(device, codes.get(), 0xAB, bytes));
  JSW_CHECK(jsw_minmax_quantize(device, dtype, bx.get(), n, group, bits, sr ? 1 : 0, seed, codes.as<uint8_t>(),
                                scales.as<float>(), zeros.as<float>()));
  JSW_CHECK(jsw_synchronize(device));
  return {download_u8(codes, bytes), download(scales, JSW_F32, groups), download(zeros, JSW_F32, groups)};
}

std::vector<float> dequantize(int device, int dtype, const Quantized& q, int64_t n, int64_t group, int bits) {
  Buffer codes = upload_u8(device, q.codes), scales = upload(device, JSW_F32, q.scales),
         zeros = upload(device, JSW_F32, q.zeros), out = poisoned(device, dtype, n);
  JSW_CHECK(jsw_minmax_dequantize(device, dtype, codes.as<uint8_t>(), scales.as<float>(), zeros.as<float>(), n, group,
                                  bits, out.get()));
  return download(out, dtype, n);
}

int code_at(const Quantized& q, int64_t i, int bits) {
  if (bits == 8) return q.codes[size_t(i)];
  uint8_t b = q.codes[size_t(i / 2)];
  return i % 2 == 0 ? b >> 4 : b & 15;
}

}  // namespace

JSW_TEST(minmax_golden_bytes) {
  // group 4, 8 bits, [0, 100, 200, 255]: scale = 255 / 255 = 1, zero = 0, codes = x. A constant group
  // [-1, -1, -1, -1] (range 0 -> 1e-5): scale = 1e-5 / 255, zero = clamp(round(1 / scale)) = 255, code 0.
  Quantized q = quantize(JSW_CPU, JSW_F32, {0.0f, 100.0f, 200.0f, 255.0f, -1.0f, -1.0f, -1.0f, -1.0f}, 4, 8, false, 0);
  std::vector<uint8_t> want = {0, 100, 200, 255, 0, 0, 0, 0};
  for (size_t k = 0; k < want.size(); k++)
    JSW_EXPECT(q.codes[k] == want[k], "8-bit code %zu = %d, want %d", k, q.codes[k], want[k]);
  JSW_EXPECT(q.scales[0] == 1.0f && q.zeros[0] == 0.0f && q.zeros[1] == 255.0f, "params %g %g %g",
             double(q.scales[0]), double(q.zeros[0]), double(q.zeros[1]));
  // 4 bits, group 3, n 5: [-7.5, 0, 7.5] -> scale 15 / 15 = 1, zero = round(7.5) = 8 (half to even); codes
  // round(-7.5) = -8 -> 0, 0 -> 8, round(7.5) + 8 = 16 -> clamped to 15. [3, 3] (range 0): scale 1e-5 / 15,
  // zero clamp(round(-3 / scale)) = 0, code clamp(huge) = 15. High nibble first; the odd n pads a 0 nibble.
  Quantized h = quantize(JSW_CPU, JSW_F32, {-7.5f, 0.0f, 7.5f, 3.0f, 3.0f}, 3, 4, false, 0);
  JSW_EXPECT(h.codes.size() == 3 && h.codes[0] == 0x08 && h.codes[1] == 0xFF && h.codes[2] == 0xF0,
             "4-bit bytes %02X %02X %02X, want 08 FF F0", h.codes[0], h.codes[1], h.codes[2]);
  std::vector<float> back = dequantize(JSW_CPU, JSW_F32, h, 5, 3, 4);
  JSW_EXPECT(back[0] == -8.0f && back[1] == 0.0f && back[2] == 7.0f, "decode %g %g %g", double(back[0]),
             double(back[1]), double(back[2]));
}

JSW_TEST(minmax_codes_match_an_fp64_reference) {
  // The reference recomputes each group's parameters (fp32, Q-GaLore's formulas) and rounds x / scale in fp64:
  // the code may differ only where x / scale is within 1e-5 of a .5 tie (fp32 division vs exact), never by > 1.
  for (int bits : {4, 8}) {
    for (int64_t group : {256, 7, 1000}) {
      for (int64_t n : {1, 255, 256, 1001}) {
        std::vector<float> x = randn(n, uint64_t(n * 31 + group + bits));
        Quantized q = quantize(JSW_CPU, JSW_F32, x, group, bits, false, 0);
        int qmax = (1 << bits) - 1;
        for (int64_t g = 0; g * group < n; g++) {
          int64_t lo = g * group, hi = std::min(n, lo + group);
          float mn = x[size_t(lo)], mx = mn;
          for (int64_t i = lo; i < hi; i++) mn = std::min(mn, x[size_t(i)]), mx = std::max(mx, x[size_t(i)]);
          float s = std::max(mx - mn, 1e-5f) / float(qmax);
          float z = std::min(float(qmax), std::max(0.0f, std::nearbyint(-mn / s)));
          JSW_EXPECT(q.scales[size_t(g)] == s && q.zeros[size_t(g)] == z, "group %lld params", (long long)g);
          for (int64_t i = lo; i < hi; i++) {
            double r = double(x[size_t(i)]) / double(s);
            int want = int(std::min<double>(qmax, std::max<double>(0, std::nearbyint(r) + z)));
            int got = code_at(q, i, bits);
            bool tie = std::fabs(r - std::floor(r) - 0.5) < 1e-5;
            JSW_EXPECT(got == want || (tie && std::abs(got - want) == 1), "bits %d group %lld n %lld: code %lld = %d, "
                       "want %d", bits, (long long)group, (long long)n, (long long)i, got, want);
          }
        }
        // Nearest rounding: |x - dequant(x)| <= scale / 2 (+ fp32 rounding of the decode) wherever the group
        // straddles 0 (then zero = round(-min / scale) lies in [0, qmax] and the grid covers the group to half a
        // step). A group on one side of 0 is clipped by the zero clamp, as in Q-GaLore (the golden test shows it).
        std::vector<float> back = dequantize(JSW_CPU, JSW_F32, q, n, group, bits);
        for (int64_t i = 0; i < n; i++) {
          int64_t lo = (i / group) * group, hi = std::min(n, lo + group);
          float mn = *std::min_element(x.begin() + lo, x.begin() + hi), mx = *std::max_element(x.begin() + lo, x.begin() + hi);
          if (!(mn < 0 && mx > 0)) continue;
          float s = q.scales[size_t(i / group)];
          JSW_EXPECT(std::fabs(back[size_t(i)] - x[size_t(i)]) <= 0.5f * s * (1 + 1e-4f) + 1e-6f,
                     "bits %d: |x - deq| = %g > scale / 2 = %g at %lld", bits,
                     double(std::fabs(back[size_t(i)] - x[size_t(i)])), double(0.5f * s), (long long)i);
        }
      }
    }
  }
}

JSW_TEST(minmax_stochastic_rounding_is_unbiased_and_reproducible) {
  // 4096 values, 8 bits, 400 seeds: each value's dequantized draws average to x. A draw is floor or floor + 1
  // (times the scale), so its variance is <= scale^2 / 4 and the mean over 400 draws has sd <= scale / 40; the
  // bound 5 sd = scale / 8 holds for all 4096 values with probability ~1 - 4096 * 6e-7. A biased rule (nearest,
  // or p = 0.5) fails it: nearest errs by up to scale / 2 on the values away from a grid point.
  const int64_t n = 4096, group = 256;
  const int seeds = 400;
  std::vector<float> x = randn(n, 99);
  std::vector<double> mean(size_t(n), 0.0);
  Quantized first;
  for (int s = 0; s < seeds; s++) {
    Quantized q = quantize(JSW_CPU, JSW_F32, x, group, 8, true, uint64_t(1000 + s));
    if (s == 0) first = q;
    std::vector<float> back = dequantize(JSW_CPU, JSW_F32, q, n, group, 8);
    for (int64_t i = 0; i < n; i++) mean[size_t(i)] += back[size_t(i)] / double(seeds);
  }
  int64_t off_grid = 0, tested = 0;
  for (int64_t i = 0; i < n; i++) {
    double s = first.scales[size_t(i / group)], z = first.zeros[size_t(i / group)];
    // Near a group's min or max, floor(x / s) + z or its ceiling may leave [0, 255] and be clamped (Q-GaLore's
    // rounded zero point): those draws are biased by design; every other value must average out.
    double fl = std::floor(double(x[size_t(i)]) / s);
    if (fl + z < 0 || fl + 1 + z > 255) continue;
    tested++;
    JSW_EXPECT(std::fabs(mean[size_t(i)] - x[size_t(i)]) <= s / 8, "value %lld: mean of draws %g vs x %g (scale %g)",
               (long long)i, mean[size_t(i)], double(x[size_t(i)]), s);
    double frac = x[size_t(i)] / s - std::floor(x[size_t(i)] / s);
    if (frac > 0.2 && frac < 0.8) off_grid++;
  }
  JSW_EXPECT(tested > n - 64, "only the few extreme values of each group are left out (%lld tested)",
             (long long)tested);
  JSW_EXPECT(off_grid > n / 2, "the test needs values between grid points (%lld of %lld)", (long long)off_grid,
             (long long)n);
  // Same seed, same bytes; another seed, other bytes (for 4096 values, ~half of them are a coin flip).
  Quantized again = quantize(JSW_CPU, JSW_F32, x, group, 8, true, 1000);
  JSW_EXPECT(again.codes == first.codes, "the same seed gives the same codes");
  Quantized other = quantize(JSW_CPU, JSW_F32, x, group, 8, true, 1001);
  int64_t diff = 0;
  for (int64_t i = 0; i < n; i++) diff += other.codes[size_t(i)] != first.codes[size_t(i)];
  JSW_EXPECT(diff > n / 4, "another seed changes many codes (%lld)", (long long)diff);
  // Each stochastic code is the floor or the ceiling of the nearest-rounding grid position.
  Quantized nearest = quantize(JSW_CPU, JSW_F32, x, group, 8, false, 0);
  for (int64_t i = 0; i < n; i++)
    JSW_EXPECT(std::abs(int(first.codes[size_t(i)]) - int(nearest.codes[size_t(i)])) <= 1, "code %lld", (long long)i);
}

JSW_TEST(minmax_bad_arguments) {
  Buffer x = upload(JSW_CPU, JSW_F32, {1.0f, 2.0f}), codes(JSW_CPU, 2), s(JSW_CPU, 4), z(JSW_CPU, 4);
  JSW_EXPECT(jsw_minmax_quantize(JSW_CPU, JSW_F32, x.get(), 2, 2, 3, 0, 0, codes.as<uint8_t>(), s.as<float>(),
                                 z.as<float>()) == JSW_ERR_INVALID_ARGUMENT, "bits 3 is refused");
  JSW_EXPECT(std::strstr(jsw_last_error(), "bits must be 4 or 8") != nullptr, "message: %s", jsw_last_error());
  JSW_EXPECT(jsw_minmax_quantize(JSW_CPU, JSW_F32, x.get(), 2, 0, 8, 0, 0, codes.as<uint8_t>(), s.as<float>(),
                                 z.as<float>()) == JSW_ERR_INVALID_ARGUMENT, "group_size 0 is refused");
  JSW_EXPECT(jsw_minmax_dequantize(JSW_CPU, JSW_I32, codes.as<uint8_t>(), s.as<float>(), z.as<float>(), 2, 2, 8,
                                   x.get()) == JSW_ERR_INVALID_ARGUMENT, "an int output is refused");
  JSW_EXPECT(jsw_minmax_dequantize(JSW_CPU, JSW_F32, nullptr, s.as<float>(), z.as<float>(), 2, 2, 8, x.get()) ==
                 JSW_ERR_INVALID_ARGUMENT, "null codes are refused");
}

JSW_CUDA_TEST(minmax_cuda_matches_cpu_bit_for_bit) {
  int dev = cuda_device();
  for (int dtype : {JSW_F32, JSW_BF16}) {
    for (int bits : {4, 8}) {
      for (bool sr : {false, true}) {
        for (int64_t group : {256, 7}) {
          for (int64_t n : {1, 257, 100003}) {
            std::vector<float> x = round_to(randn(n, uint64_t(n + group + bits), 0.3f), dtype);
            Quantized c = quantize(JSW_CPU, dtype, x, group, bits, sr, 77);
            Quantized g = quantize(dev, dtype, x, group, bits, sr, 77);
            JSW_EXPECT(g.codes == c.codes, "codes differ (dtype %d bits %d sr %d group %lld n %lld)", dtype, bits,
                       int(sr), (long long)group, (long long)n);
            JSW_EXPECT(std::memcmp(g.scales.data(), c.scales.data(), c.scales.size() * 4) == 0 &&
                           std::memcmp(g.zeros.data(), c.zeros.data(), c.zeros.size() * 4) == 0,
                       "scales / zeros differ (bits %d group %lld n %lld)", bits, (long long)group, (long long)n);
            std::vector<float> dc = dequantize(JSW_CPU, dtype, c, n, group, bits);
            std::vector<float> dg = dequantize(dev, dtype, c, n, group, bits);
            JSW_EXPECT(std::memcmp(dc.data(), dg.data(), size_t(n) * 4) == 0, "decoded values differ (bits %d n %lld)",
                       bits, (long long)n);
          }
        }
      }
    }
  }
}
