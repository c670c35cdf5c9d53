// GPTQ ("gptq" v1 layout): hand-computed dequantization goldens (field order, the zero offset, 8-bit words,
// non-monotone g_idx), dequantization against an independent loop, the quantizer's round trip through the
// packed layout, GPTQ beating round-to-nearest on the layer output, bad arguments, and the CUDA twin.
#include <cmath>
#include <cstring>
#include <string>

#include "test.h"

using namespace jsw_test;

namespace {

struct Packed {
  std::vector<int32_t> qweight, qzeros, g_idx;
  std::vector<float> scales;  // values an f16 holds exactly
  int64_t in, out, groups;
  int bits;
};

// Test-side packer, written from FORMATS.md: codes [out, in] and zeros [groups, out] (true zeros).
Packed pack(const std::vector<int32_t>& codes, const std::vector<int32_t>& zeros, const std::vector<float>& scales,
            const std::vector<int32_t>& g_idx, int64_t in, int64_t out, int64_t groups, int bits) {
  int p = 32 / bits;
  // whole words only: a partial one would be written past the end of the vectors below
  if (in % p != 0 || out % p != 0)
    throw Failure("pack: in = " + std::to_string(in) + " and out = " + std::to_string(out) + " must be multiples of " +
                  std::to_string(p) + " at " + std::to_string(bits) + " bits");
  Packed k{std::vector<int32_t>(size_t(in / p * out), 0), std::vector<int32_t>(size_t(groups * out / p), 0), g_idx,
           scales, in, out, groups, bits};
  for (int64_t c = 0; c < out; c++)
    for (int64_t i = 0; i < in; i++)
      k.qweight[size_t((i / p) * out + c)] |= int32_t(uint32_t(codes[size_t(c * in + i)]) << (bits * (i % p)));
  for (int64_t g = 0; g < groups; g++)
    for (int64_t c = 0; c < out; c++)
      k.qzeros[size_t(g * (out / p) + c / p)] |=
          int32_t((uint32_t(zeros[size_t(g * out + c)] - 1) & ((1u << bits) - 1u)) << (bits * (c % p)));
  return k;
}

std::vector<float> dequantize(int device, int dtype, const Packed& k) {
  Buffer qw = upload_i32(device, k.qweight), qz = upload_i32(device, k.qzeros), gi = upload_i32(device, k.g_idx);
  Buffer sc = upload(device, JSW_F16, k.scales), w = poisoned(device, dtype, k.in * k.out);
  JSW_CHECK(jsw_gptq_dequantize(device, dtype, qw.as<int32_t>(), qz.as<int32_t>(), sc.as<uint16_t>(),
                                gi.as<int32_t>(), k.in, k.out, k.bits, k.groups, w.get()));
  return download(w, dtype, k.in * k.out);
}

// Independent unpacking: reads the fields with plain shifts, one value at a time; zero = (field + 1) & mask.
std::vector<float> reference(const Packed& k) {
  int p = 32 / k.bits;
  uint32_t mask = (1u << k.bits) - 1u;
  std::vector<float> w(size_t(k.in * k.out));
  for (int64_t c = 0; c < k.out; c++)
    for (int64_t i = 0; i < k.in; i++) {
      int64_t g = k.g_idx[size_t(i)];
      uint32_t q = (uint32_t(k.qweight[size_t((i / p) * k.out + c)]) >> (k.bits * (i % p))) & mask;
      uint32_t z = (((uint32_t(k.qzeros[size_t(g * (k.out / p) + c / p)]) >> (k.bits * (c % p))) & mask) + 1) & mask;
      w[size_t(c * k.in + i)] = k.scales[size_t(g * k.out + c)] * float(int(q) - int(z));
    }
  return w;
}

Packed random_packed(int64_t in, int64_t out, int64_t groups, int bits, uint64_t seed, bool shuffled_groups) {
  int maxq = (1 << bits) - 1;
  std::vector<float> u = uniform(in * out + groups * out * 2 + in, seed, 0.0f, 1.0f);
  size_t at = 0;
  std::vector<int32_t> codes(static_cast<size_t>(in * out)), zeros(static_cast<size_t>(groups * out));
  std::vector<int32_t> g_idx(static_cast<size_t>(in));
  std::vector<float> scales(static_cast<size_t>(groups * out));
  for (auto& c : codes) c = std::min(maxq, int(u[at++] * float(maxq + 1)));
  for (auto& z : zeros) z = std::min(maxq, int(u[at++] * float(maxq + 1)));  // 0 packs as an all-ones field
  for (auto& s : scales) s = round_to({0.001f + 0.05f * u[at++]}, JSW_F16)[0];
  int64_t gs = (in + groups - 1) / groups;
  for (int64_t i = 0; i < in; i++) g_idx[size_t(i)] = int32_t(i / gs);
  if (shuffled_groups)  // an act-order g_idx: every group still used, in a scrambled order
    for (int64_t i = in - 1; i > 0; i--) std::swap(g_idx[size_t(i)], g_idx[size_t(int64_t(u[at++] * float(i + 1)) % (i + 1))]);
  return pack(codes, zeros, scales, g_idx, in, out, groups, bits);
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

}  // namespace

JSW_TEST(gptq_dequant_golden) {
  // 4 bits, in = 16, out = 8, two groups with an act-order g_idx. Output 0: word [0, 0] = 0x76543210 holds
  // inputs 0..7 as q = 0..7 (input j in bits 4j..4j+3); word [1, 0] = 0xFEDCBA98 holds inputs 8..15 as q = 8..15.
  // qzeros word [g, 0] holds outputs 0..7: group 0 stores 7 for output 0 (zero 8, sym), group 1 stores 2
  // (zero 3) for output 0 and 0x4 in field 1 (output 1: zero 5). scales: group 0 output 0 = 0.5, group 1
  // output 0 = 0.25, output 1 = 2 in both groups. g_idx alternates 1, 0, 1, 0, ...
  Packed k{std::vector<int32_t>(2 * 8, 0), std::vector<int32_t>(2, 0), std::vector<int32_t>(16), std::vector<float>(16, 1.0f),
           16, 8, 2, 4};
  k.qweight[0] = 0x76543210;
  k.qweight[8] = int32_t(0xFEDCBA98u);
  k.qweight[1] = 0x11111111;  // output 1: q = 1 everywhere
  k.qzeros[0] = 0x00000047;   // group 0: output 0 stores 7, output 1 stores 4
  k.qzeros[1] = 0x00000042;   // group 1: output 0 stores 2, output 1 stores 4
  k.scales[0] = 0.5f;
  k.scales[8] = 0.25f;
  k.scales[1] = 2.0f;
  k.scales[9] = 2.0f;
  for (int i = 0; i < 16; i++) k.g_idx[size_t(i)] = (i + 1) % 2;
  std::vector<float> w = dequantize(JSW_CPU, JSW_F32, k);
  for (int i = 0; i < 16; i++) {
    // even inputs: group 1 (scale 0.25, zero 3); odd inputs: group 0 (scale 0.5, zero 8).
    float want0 = i % 2 == 0 ? 0.25f * float(i - 3) : 0.5f * float(i - 8);
    JSW_EXPECT(w[size_t(i)] == want0, "W[0, %d] = %g, want %g", i, double(w[size_t(i)]), double(want0));
    // output 1: q = 1 for inputs 0..7 and 0 for 8..15 (word [1, 1] = 0), zero 5 in both groups, scale 2.
    float want1 = 2.0f * float((i < 8 ? 1 : 0) - 5);
    JSW_EXPECT(w[size_t(16 + i)] == want1, "W[1, %d] = %g, want %g", i, double(w[size_t(16 + i)]), double(want1));
  }
  // Outputs 2..7 have q = 0, stored zero 0 (zero 1) and scale 1: -1 everywhere.
  for (int64_t c = 2; c < 8; c++)
    for (int i = 0; i < 16; i++) JSW_EXPECT(w[size_t(c * 16 + i)] == -1.0f, "W[%lld, %d]", (long long)c, i);
  // A field of all ones is read as (15 + 1) & 15 = zero 0 (AutoGPTQ's reference): output 2 of group 0 -> 0.
  k.qzeros[0] |= 0xF00;
  w = dequantize(JSW_CPU, JSW_F32, k);
  for (int i = 1; i < 16; i += 2) JSW_EXPECT(w[size_t(32 + i)] == 0.0f, "W[2, %d] = %g with a 0xF zero field", i, double(w[size_t(32 + i)]));

  // 8 bits: four values per word, input 4r + j in byte j. Word [0, 0] = 0x04030201: q = 1, 2, 3, 4; zero
  // stored 0x7F (127, zero 128) for output 0 in qzeros word 0's low byte.
  Packed e{std::vector<int32_t>(4, 0), std::vector<int32_t>(1, 0x7F7F7F7F), {0, 0, 0, 0}, std::vector<float>(4, 0.125f),
           4, 4, 1, 8};
  e.qweight[0] = 0x04030201;
  std::vector<float> w8 = dequantize(JSW_CPU, JSW_F32, e);
  for (int j = 0; j < 4; j++)
    JSW_EXPECT(w8[size_t(j)] == 0.125f * float(j + 1 - 128), "8-bit W[0, %d] = %g", j, double(w8[size_t(j)]));
}

JSW_TEST(gptq_dequant_matches_independent_unpacking) {
  for (int bits : {2, 4, 8})
    for (bool shuffled : {false, true})
      for (int64_t groups : {int64_t(1), int64_t(3)}) {
        int64_t in = 96, out = 48;
        Packed k = random_packed(in, out, groups, bits, uint64_t(bits * 10 + groups + (shuffled ? 100 : 0)), shuffled);
        std::vector<float> want = reference(k);
        JSW_EXPECT(same_bits(dequantize(JSW_CPU, JSW_F32, k), want), "bits %d groups %lld shuffled %d", bits,
                   (long long)groups, int(shuffled));
        for (int dtype : {JSW_BF16, JSW_F16})
          JSW_EXPECT(dequantize(JSW_CPU, dtype, k) == round_to(want, dtype), "dtype %d bits %d: rounded once", dtype,
                     bits);
      }
}

namespace {

struct Quantized {
  std::vector<float> w;  // the quantized values
  std::vector<int32_t> codes, zeros, g_idx;
  std::vector<float> scales;
  double loss;
};

Quantized quantize(std::vector<float> w, std::vector<float>* h, int64_t out, int64_t in, int bits, int64_t group_size,
                   bool sym, bool desc_act) {
  int64_t groups = group_size == -1 ? 1 : (in + group_size - 1) / group_size;
  Quantized q{{}, std::vector<int32_t>(size_t(out * in), -7), std::vector<int32_t>(size_t(groups * out), -7),
              std::vector<int32_t>(size_t(in), -7), std::vector<float>(size_t(groups * out), NAN), 0.0};
  JSW_CHECK(jsw_gptq_quantize(JSW_CPU, w.data(), h ? h->data() : nullptr, out, in, bits, group_size, sym, desc_act,
                              0.01f, 128, q.codes.data(), q.scales.data(), q.zeros.data(), q.g_idx.data(), &q.loss));
  q.w = std::move(w);
  return q;
}

// Calibration inputs with unequal channel scales and correlations (as real activations), and their Hessian.
std::vector<float> calibration(int64_t n, int64_t in, uint64_t seed) {
  std::vector<float> z = randn(n * in, seed), x(size_t(n * in));
  for (int64_t t = 0; t < n; t++)
    for (int64_t i = 0; i < in; i++)
      x[size_t(t * in + i)] = z[size_t(t * in + i)] * (0.2f + float(i % 7)) + 0.5f * z[size_t(t * in + (i + 1) % in)];
  return x;
}

double output_error(const std::vector<float>& x, const std::vector<float>& w, const std::vector<float>& q, int64_t n,
                    int64_t in, int64_t out) {
  double e = 0.0;
  for (int64_t t = 0; t < n; t++)
    for (int64_t c = 0; c < out; c++) {
      double d = 0.0;
      for (int64_t i = 0; i < in; i++) d += double(x[size_t(t * in + i)]) * (double(w[size_t(c * in + i)]) - q.at(size_t(c * in + i)));
      e += d * d;
    }
  return e;
}

}  // namespace

JSW_TEST(gptq_hessian_is_a_running_mean) {
  int64_t in = 5, n1 = 7, n2 = 4;
  std::vector<float> x = randn((n1 + n2) * in, 11), h(size_t(in * in), NAN);
  JSW_CHECK(jsw_gptq_hessian_add(JSW_CPU, x.data(), n1, in, h.data(), 0));
  JSW_CHECK(jsw_gptq_hessian_add(JSW_CPU, x.data() + n1 * in, n2, in, h.data(), n1));
  for (int64_t i = 0; i < in; i++)
    for (int64_t j = 0; j < in; j++) {
      double s = 0.0;
      for (int64_t t = 0; t < n1 + n2; t++) s += double(x[size_t(t * in + i)]) * x[size_t(t * in + j)];
      double want = 2.0 * s / double(n1 + n2);
      JSW_EXPECT(std::fabs(h[size_t(i * in + j)] - want) <= 1e-5 * (1.0 + std::fabs(want)), "H[%lld, %lld] %g want %g",
                 (long long)i, (long long)j, double(h[size_t(i * in + j)]), want);
    }
}

JSW_TEST(gptq_round_trip_and_beats_rtn) {
  int64_t in = 192, out = 40, n = 512;  // in is not a multiple of the 128-column batch
  std::vector<float> x = calibration(n, in, 5), w = randn(out * in, 6, 0.05f);
  for (int bits : {4, 8})
    for (int64_t gs : {int64_t(32), int64_t(64), int64_t(128), int64_t(-1)})
      for (bool sym : {true, false})
        for (bool act : {false, true}) {
          std::string what = "bits " + std::to_string(bits) + " gs " + std::to_string(gs) + " sym " +
                             std::to_string(sym) + " desc_act " + std::to_string(act);
          std::vector<float> h(size_t(in * in));
          JSW_CHECK(jsw_gptq_hessian_add(JSW_CPU, x.data(), n, in, h.data(), 0));
          Quantized g = quantize(w, &h, out, in, bits, gs, sym, act);
          Quantized r = quantize(w, nullptr, out, in, bits, gs, sym, false);
          int64_t groups = gs == -1 ? 1 : (in + gs - 1) / gs;
          // Round trip: the packed checkpoint dequantizes to exactly the values the quantizer reports.
          for (const Quantized* q : {&g, &r}) {
            Packed k = pack(q->codes, q->zeros, q->scales, q->g_idx, in, out, groups, bits);
            JSW_EXPECT(same_bits(dequantize(JSW_CPU, JSW_F32, k), q->w), "%s: packed round trip", what.c_str());
            JSW_EXPECT(round_to(q->scales, JSW_F16) == q->scales, "%s: scales are f16 values", what.c_str());
          }
          bool monotone = true;
          for (int64_t i = 1; i < in; i++) monotone = monotone && g.g_idx[size_t(i)] >= g.g_idx[size_t(i - 1)];
          JSW_EXPECT(monotone == (!act || gs == -1), "%s: g_idx monotone %d", what.c_str(), int(monotone));
          double eg = output_error(x, w, g.w, n, in, out), er = output_error(x, w, r.w, n, in, out);
          JSW_EXPECT(eg < 0.9 * er, "%s: GPTQ output error %g is not below RTN's %g", what.c_str(), eg, er);
        }
}

JSW_TEST(gptq_rtn_codes) {
  // One row, one group, 4-bit asym: xmin = -1, xmax = 2 -> scale = 3/15 = 0.2 (f16 0.199951171875), zero =
  // round(1 / 0.19995) = 5. w = 0.3 -> round(1.5004) + 5 = 7; w = -1 -> round(-5.0012) + 5 = 0; w = 2 -> 15.
  std::vector<float> w = {-1.0f, 0.3f, 2.0f, 0.0f};
  Quantized q = quantize(w, nullptr, 1, 4, 4, -1, false, false);
  JSW_EXPECT(q.scales[0] == 0.199951171875f && q.zeros[0] == 5, "scale %.9g zero %d", double(q.scales[0]), q.zeros[0]);
  JSW_EXPECT(q.codes == std::vector<int32_t>({0, 7, 15, 5}), "codes %d %d %d %d", q.codes[0], q.codes[1], q.codes[2],
             q.codes[3]);
  // sym: xmax = max(|-1|, 2) = 2, xmin = -2: scale = 4/15 (f16 0.2666015625), zero 8.
  Quantized s = quantize(w, nullptr, 1, 4, 4, -1, true, false);
  JSW_EXPECT(s.scales[0] == 0.2666015625f && s.zeros[0] == 8, "sym scale %.9g zero %d", double(s.scales[0]), s.zeros[0]);
  // All weights >= 0 (asym): the zero would be 0, which v1 cannot store; it is 1.
  Quantized p = quantize({0.5f, 1.0f, 0.25f, 0.75f}, nullptr, 1, 4, 4, -1, false, false);
  JSW_EXPECT(p.zeros[0] == 1, "non-negative row: zero %d", p.zeros[0]);
}

JSW_TEST(gptq_bad_arguments) {
  std::vector<int32_t> qw(8, 0), qz(1, 0), gi(8, 0);
  std::vector<uint16_t> sc(8, 0x3C00);
  std::vector<float> w(64);
  auto fails = [](int status, const char* msg) {
    JSW_EXPECT(status == JSW_ERR_INVALID_ARGUMENT, "status %d for %s", status, msg);
    JSW_EXPECT(std::string(jsw_last_error()).find(msg) != std::string::npos, "message: %s", jsw_last_error());
  };
  fails(jsw_gptq_dequantize(JSW_CPU, JSW_F32, qw.data(), qz.data(), sc.data(), gi.data(), 8, 8, 3, 1, w.data()),
        "bits = 3 is not supported");
  fails(jsw_gptq_dequantize(JSW_CPU, JSW_F32, qw.data(), qz.data(), sc.data(), gi.data(), 12, 8, 4, 1, w.data()),
        "in = 12 is not a multiple of 8");
  gi[5] = 1;
  fails(jsw_gptq_dequantize(JSW_CPU, JSW_F32, qw.data(), qz.data(), sc.data(), gi.data(), 8, 8, 4, 1, w.data()),
        "g_idx[5] = 1 is outside [0, 1)");
  std::vector<float> h(64, 0.0f), ww(64, 1.0f);
  std::vector<int32_t> codes(64), zeros(8), g(8);
  std::vector<float> scales(8);
  double loss;
  h[0] = -1.0f;  // diag -1: not positive definite
  fails(jsw_gptq_quantize(JSW_CPU, ww.data(), h.data(), 8, 8, 4, -1, 1, 0, 0.01f, 128, codes.data(), scales.data(),
                          zeros.data(), g.data(), &loss),
        "not positive definite");
  fails(jsw_gptq_quantize(JSW_CPU, ww.data(), nullptr, 8, 8, 4, 0, 1, 0, 0.01f, 128, codes.data(), scales.data(),
                          zeros.data(), g.data(), &loss),
        "group_size must be > 0 or -1");
}

JSW_CUDA_TEST(gptq_dequant_cuda_matches_cpu) {
  int dev = cuda_device();
  for (int bits : {2, 4, 8})
    for (bool shuffled : {false, true}) {
      // out = 48 and in = 144 are no multiples of the 256-thread block, but whole words at 2 bits (16 a word)
      Packed k = random_packed(144, 48, 5, bits, uint64_t(bits + (shuffled ? 50 : 0)), shuffled);
      for (int dtype : {JSW_F32, JSW_BF16, JSW_F16}) {
        std::vector<float> cpu = dequantize(JSW_CPU, dtype, k), gpu = dequantize(dev, dtype, k);
        JSW_EXPECT(same_bits(cpu, gpu), "bits %d shuffled %d dtype %d: CUDA differs from the CPU", bits,
                   int(shuffled), dtype);
      }
    }
  // An out-of-range group cannot be reported from the kernel: those inputs become NaN, the rest are exact.
  if (cuda_as_cpu) return;  // the CPU refuses it with an error instead
  Packed k = random_packed(16, 8, 2, 4, 3, false);
  k.g_idx[3] = 2;
  std::vector<float> gpu = dequantize(dev, JSW_F32, k);
  for (int64_t c = 0; c < 8; c++)
    JSW_EXPECT(std::isnan(gpu[size_t(c * 16 + 3)]) && !std::isnan(gpu[size_t(c * 16 + 4)]), "NaN for bad g_idx");
}

namespace {

// The quantizer on a device: the same inputs as quantize(), outputs poisoned so an unwritten element fails.
Quantized quantize_on(int dev, const std::vector<float>& w, const std::vector<float>* h, int64_t out, int64_t in,
                      int bits, int64_t group_size, bool sym, bool desc_act) {
  int64_t groups = group_size == -1 ? 1 : (in + group_size - 1) / group_size;
  Buffer dw = upload(dev, JSW_F32, w);
  Buffer dh = upload(dev, JSW_F32, h ? *h : std::vector<float>(1, 0.0f));
  Buffer codes = upload_i32(dev, std::vector<int32_t>(size_t(out * in), -7));
  Buffer zeros = upload_i32(dev, std::vector<int32_t>(size_t(groups * out), -7));
  Buffer g_idx = upload_i32(dev, std::vector<int32_t>(size_t(in), -7));
  Buffer scales = upload(dev, JSW_F32, std::vector<float>(size_t(groups * out), NAN));
  Quantized q;
  JSW_CHECK(jsw_gptq_quantize(dev, dw.as<float>(), h ? dh.as<float>() : nullptr, out, in, bits, group_size, sym,
                              desc_act, 0.01f, 128, codes.as<int32_t>(), scales.as<float>(), zeros.as<int32_t>(),
                              g_idx.as<int32_t>(), &q.loss));
  q.w = download(dw, JSW_F32, out * in);
  q.codes = download_i32(codes, out * in);
  q.zeros = download_i32(zeros, groups * out);
  q.g_idx = download_i32(g_idx, in);
  q.scales = download(scales, JSW_F32, groups * out);
  return q;
}

}  // namespace

JSW_CUDA_TEST(gptq_hessian_and_quantize_cuda_match_cpu) {
  int dev = cuda_device();
  // in = 200: one full 128-column batch and a partial one; out = 37 rows is no multiple of the 8 warps a block
  // runs. Input column 5 is always 0: a dead input (h_55 = 0) whose weight column must come out zero.
  int64_t in = 200, out = 37, n = 300;
  std::vector<float> x = calibration(n, in, 21), w = randn(out * in, 22, 0.05f);
  for (int64_t t = 0; t < n; t++) x[size_t(t * in + 5)] = 0.0f;
  std::vector<float> h_cpu(size_t(in * in), NAN);
  JSW_CHECK(jsw_gptq_hessian_add(JSW_CPU, x.data(), 120, in, h_cpu.data(), 0));
  JSW_CHECK(jsw_gptq_hessian_add(JSW_CPU, x.data() + 120 * in, n - 120, in, h_cpu.data(), 120));
  {
    Buffer dx = upload(dev, JSW_F32, x), dh = upload(dev, JSW_F32, std::vector<float>(size_t(in * in), NAN));
    JSW_CHECK(jsw_gptq_hessian_add(dev, dx.as<float>(), 120, in, dh.as<float>(), 0));
    JSW_CHECK(jsw_gptq_hessian_add(dev, dx.as<float>() + 120 * in, n - 120, in, dh.as<float>(), 120));
    // fp32 sums of 300 products in different orders: a few ulps of the largest terms.
    expect_rel_norm("CUDA Hessian", download(dh, JSW_F32, in * in), h_cpu, 1e-5f);
  }
  for (int bits : {4, 8})
    for (int64_t gs : {int64_t(32), int64_t(128), int64_t(-1)})
      for (bool act : {false, true}) {
        bool sym = gs != 32;
        std::string what = "bits " + std::to_string(bits) + " gs " + std::to_string(gs) + " desc_act " +
                           std::to_string(act);
        std::vector<float> h1 = h_cpu, h2 = h_cpu;
        Quantized c = quantize(w, &h1, out, in, bits, gs, sym, act);
        Quantized g = quantize_on(dev, w, &h2, out, in, bits, gs, sym, act);
        JSW_EXPECT(g.g_idx == c.g_idx, "%s: g_idx (from the Hessian's diagonal alone) differs", what.c_str());
        // The error feedback goes through GEMMs that round differently from OpenBLAS's: a value sitting on a
        // rounding boundary may take the neighbouring code, and the later columns of its row drift by fp32 ulps.
        int64_t same = 0;
        for (size_t i = 0; i < c.codes.size(); i++) same += c.codes[i] == g.codes[i];
        JSW_EXPECT(double(same) >= 0.99 * double(c.codes.size()), "%s: only %lld of %zu codes agree", what.c_str(),
                   (long long)same, c.codes.size());
        JSW_EXPECT(std::fabs(g.loss - c.loss) <= 1e-3 * c.loss, "%s: loss %g vs CPU %g", what.c_str(), g.loss, c.loss);
        for (int64_t r = 0; r < out; r++)
          JSW_EXPECT(g.w[size_t(r * in + 5)] == 0.0f, "%s: dead input 5 of row %lld is %g", what.c_str(),
                     (long long)r, double(g.w[size_t(r * in + 5)]));
        // out = 37 packs into no whole qzeros word, so the values are checked against their parts directly
        std::vector<float> from_parts(size_t(out * in));
        for (int64_t r = 0; r < out; r++)
          for (int64_t i = 0; i < in; i++) {
            size_t gz = size_t(g.g_idx[size_t(i)] * out + r);
            from_parts[size_t(r * in + i)] = g.scales[gz] * float(g.codes[size_t(r * in + i)] - g.zeros[gz]);
          }
        JSW_EXPECT(same_bits(from_parts, g.w), "%s: the CUDA result is scale * (code - zero)", what.c_str());
        Quantized r = quantize_on(dev, w, nullptr, out, in, bits, gs, sym, false);
        Quantized rc = quantize(w, nullptr, out, in, bits, gs, sym, false);
        JSW_EXPECT(r.codes == rc.codes && r.scales == rc.scales && r.zeros == rc.zeros && r.g_idx == rc.g_idx,
                   "%s: round-to-nearest has no GEMM, so the twins agree exactly", what.c_str());
        double eg = output_error(x, w, g.w, n, in, out), er = output_error(x, w, r.w, n, in, out);
        JSW_EXPECT(eg < 0.9 * er, "%s: CUDA GPTQ output error %g is not below RTN's %g", what.c_str(), eg, er);
      }
  // A Hessian that is not positive definite fails with the CPU twin's message (the host factorisation).
  if (cuda_as_cpu) return;  // the CPU checks its arguments in another order
  Buffer bw = upload(dev, JSW_F32, std::vector<float>(size_t(8 * 8), 1.0f));
  std::vector<float> bad(size_t(8 * 8), 0.0f);
  bad[0] = -1.0f;
  Buffer bh = upload(dev, JSW_F32, bad), bc = upload_i32(dev, std::vector<int32_t>(64)),
         bz = upload_i32(dev, std::vector<int32_t>(8)), bg = upload_i32(dev, std::vector<int32_t>(8)),
         bs = upload(dev, JSW_F32, std::vector<float>(8));
  double loss = 0.0;
  int status = jsw_gptq_quantize(dev, bw.as<float>(), bh.as<float>(), 8, 8, 4, -1, 1, 0, 0.01f, 128,
                                 bc.as<int32_t>(), bs.as<float>(), bz.as<int32_t>(), bg.as<int32_t>(), &loss);
  JSW_EXPECT(status == JSW_ERR_INVALID_ARGUMENT &&
                 std::string(jsw_last_error()).find("not positive definite") != std::string::npos,
             "a bad Hessian on CUDA: status %d, %s", status, jsw_last_error());
  status = jsw_gptq_quantize(dev, bw.as<float>(), bh.as<float>(), 8, 8, 4, -1, 1, 0, 0.01f, 256, bc.as<int32_t>(),
                             bs.as<float>(), bz.as<int32_t>(), bg.as<int32_t>(), &loss);
  JSW_EXPECT(status == JSW_ERR_INVALID_ARGUMENT && std::string(jsw_last_error()).find("at most 128") != std::string::npos,
             "block 256 on CUDA: status %d, %s", status, jsw_last_error());
}
