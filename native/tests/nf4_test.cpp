// NF4 (bitsandbytes layout): hand-computed bytes, codes against an independent nearest-level search, the
// dequantization formula, double quantization, and bit-exact codes and values of the CUDA twin.
#include <cstring>

#include "test.h"

using namespace jsw_test;

namespace {

std::vector<float> codebook() {
  std::vector<float> c(16);
  JSW_CHECK(jsw_nf4_codebook(c.data()));
  return c;
}

std::vector<float> dynamic_map() {
  std::vector<float> c(256);
  JSW_CHECK(jsw_dynamic_map_signed(c.data()));
  return c;
}

struct Quantized {
  std::vector<uint8_t> packed;
  std::vector<float> absmax;
};

Quantized quantize(int device, int dtype, const std::vector<float>& x, int64_t blocksize) {
  int64_t n = int64_t(x.size()), bytes = (n + 1) / 2, blocks = (n + blocksize - 1) / blocksize;
  Buffer bx = upload(device, dtype, x), packed(device, bytes), absmax = poisoned(device, JSW_F32, blocks);
  JSW_CHECK(jsw_memset(device, packed.get(), 0xAB, bytes));
  JSW_CHECK(jsw_nf4_quantize(device, dtype, bx.get(), n, blocksize, packed.as<uint8_t>(), absmax.as<float>()));
  JSW_CHECK(jsw_synchronize(device));
  return {download_u8(packed, bytes), download(absmax, JSW_F32, blocks)};
}

std::vector<float> dequantize(int device, int dtype, const Quantized& q, int64_t n, int64_t blocksize) {
  Buffer packed = upload_u8(device, q.packed), absmax = upload(device, JSW_F32, q.absmax);
  Buffer out = poisoned(device, dtype, n);
  JSW_CHECK(jsw_nf4_dequantize(device, dtype, packed.as<uint8_t>(), absmax.as<float>(), n, blocksize, out.get()));
  return download(out, dtype, n);
}

int nibble(const std::vector<uint8_t>& packed, int64_t i) {
  return i % 2 == 0 ? packed[size_t(i / 2)] >> 4 : packed[size_t(i / 2)] & 15;
}

bool same_bits(float a, float b) { return std::memcmp(&a, &b, 4) == 0; }

struct DoubleQuant {
  std::vector<uint8_t> q;
  std::vector<float> nested;
  float offset;
};

DoubleQuant double_quantize(int device, const std::vector<float>& absmax) {
  int64_t n = int64_t(absmax.size()), groups = (n + 255) / 256;
  Buffer a = upload(device, JSW_F32, absmax), q(device, n), nested = poisoned(device, JSW_F32, groups);
  Buffer offset = poisoned(device, JSW_F32, 1);
  JSW_CHECK(jsw_quantize_absmax_8bit(device, a.as<float>(), n, q.as<uint8_t>(), nested.as<float>(),
                                     offset.as<float>()));
  return {download_u8(q, n), download(nested, JSW_F32, groups), download(offset, JSW_F32, 1)[0]};
}

}  // namespace

JSW_TEST(nf4_golden_bytes) {
  // blocksize 4, n = 7: block 0 = [1, -1, 0, 0.5] (absmax 1), block 1 = [-0.5, 0.1, 0.3] (absmax 0.5) plus the
  // pad. Codes: 1 -> 15, -1 -> 0, 0 -> 7, 0.5 -> 12 (0.4407 is nearer than 0.5626); then x / 0.5: -1 -> 0,
  // 0.2 -> 9 (0.1609), 0.6 -> 13 (0.5626), pad 0 -> 7. High nibble first.
  Quantized q = quantize(JSW_CPU, JSW_F32, {1.0f, -1.0f, 0.0f, 0.5f, -0.5f, 0.1f, 0.3f}, 4);
  std::vector<uint8_t> want = {0xF0, 0x7C, 0x09, 0xD7};
  for (size_t k = 0; k < want.size(); k++)
    JSW_EXPECT(q.packed[k] == want[k], "byte %zu = 0x%02X, want 0x%02X", k, q.packed[k], want[k]);
  JSW_EXPECT(q.absmax[0] == 1.0f && q.absmax[1] == 0.5f, "absmax %g %g", double(q.absmax[0]), double(q.absmax[1]));

  // A value exactly on a decision threshold takes the lower code (bitsandbytes tests x > threshold); one ulp
  // above takes the upper one. An all-zero block has absmax 0, 0 * (1/0) = NaN, which bitsandbytes encodes as 0.
  float t = 0.03979014977812767f;
  Quantized ties = quantize(JSW_CPU, JSW_F32, {1.0f, t, std::nextafter(t, 1.0f), -t, 0.0f, 0.0f}, 6);
  JSW_EXPECT(ties.packed[0] == 0xF7 && ties.packed[1] == 0x87 && ties.packed[2] == 0x77,
             "threshold bytes 0x%02X 0x%02X 0x%02X, want F7 87 77", ties.packed[0], ties.packed[1], ties.packed[2]);
  Quantized zeros = quantize(JSW_CPU, JSW_F32, {0.0f, 0.0f, 0.0f}, 2);
  JSW_EXPECT(zeros.packed[0] == 0x00 && zeros.packed[1] == 0x00 && zeros.absmax[0] == 0.0f && zeros.absmax[1] == 0.0f,
             "zero blocks: 0x%02X 0x%02X", zeros.packed[0], zeros.packed[1]);
  std::vector<float> back = dequantize(JSW_CPU, JSW_F32, zeros, 3, 2);
  JSW_EXPECT(back[0] == 0.0f && back[1] == 0.0f && back[2] == 0.0f, "zero blocks decode to zeros: %g %g %g",
             double(back[0]), double(back[1]), double(back[2]));
}

JSW_TEST(nf4_codes_are_the_nearest_level) {
  std::vector<float> code = codebook();
  for (int64_t blocksize : {64, 128, 7}) {
    for (int64_t n : {1, 63, 64, 1001, 4096 + 33}) {
      std::vector<float> x = randn(n, uint64_t(n + blocksize));
      Quantized q = quantize(JSW_CPU, JSW_F32, x, blocksize);
      for (int64_t i = 0; i < n; i++) {
        int64_t b = i / blocksize;
        float m = 0.0f;
        for (int64_t j = b * blocksize; j < std::min(n, (b + 1) * blocksize); j++) m = std::max(m, std::fabs(x[j]));
        JSW_EXPECT(q.absmax[b] == m, "absmax[%lld] %g want %g", (long long)b, double(q.absmax[b]), double(m));
        // Independent search: the nearest level in fp64 (a near-tie within 1e-6 may go either way).
        double s = double(x[i] * (1.0f / m));
        int best = 0;
        for (int c = 1; c < 16; c++)
          if (std::fabs(s - code[c]) < std::fabs(s - code[best])) best = c;
        int got = nibble(q.packed, i);
        JSW_EXPECT(got == best || std::fabs(std::fabs(s - code[got]) - std::fabs(s - code[best])) < 1e-6,
                   "n %lld bs %lld element %lld: code %d, nearest %d", (long long)n, (long long)blocksize,
                   (long long)i, got, best);
      }
      if (n % 2 == 1) JSW_EXPECT((q.packed.back() & 15) == 7, "odd n pads with the code of 0");
      std::vector<float> back = dequantize(JSW_CPU, JSW_F32, q, n, blocksize);
      for (int64_t i = 0; i < n; i++) {
        float want = code[nibble(q.packed, i)] * q.absmax[i / blocksize];
        JSW_EXPECT(same_bits(back[i], want), "dequant[%lld] %g want %g", (long long)i, double(back[i]), double(want));
      }
    }
  }
}

JSW_TEST(nf4_half_precision_input_and_output) {
  for (int dtype : {JSW_BF16, JSW_F16}) {
    std::vector<float> x = round_to(randn(777, 3), dtype);
    Quantized a = quantize(JSW_CPU, dtype, x, 64), b = quantize(JSW_CPU, JSW_F32, x, 64);
    JSW_EXPECT(a.packed == b.packed && a.absmax == b.absmax, "dtype %d: 16-bit input quantizes like its fp32 value",
               dtype);
    std::vector<float> out = dequantize(JSW_CPU, dtype, a, 777, 64);
    std::vector<float> ref = round_to(dequantize(JSW_CPU, JSW_F32, a, 777, 64), dtype);
    JSW_EXPECT(out == ref, "dtype %d: dequant is the fp32 value rounded once", dtype);
  }
}

JSW_TEST(nf4_double_quant_round_trip) {
  std::vector<float> code256 = dynamic_map();
  for (int64_t blocks : {1, 255, 256, 1000}) {
    std::vector<float> absmax = uniform(blocks, uint64_t(blocks), 0.01f, 3.0f);
    DoubleQuant dq = double_quantize(JSW_CPU, absmax);
    double mean = 0;
    for (float a : absmax) mean += a;
    mean /= double(blocks);
    JSW_EXPECT(std::fabs(dq.offset - mean) <= 1e-6 * mean, "offset %g, mean %g", double(dq.offset), mean);
    for (int64_t b = 0; b < blocks; b++) {
      int64_t g = b / 256;
      float recovered = code256[dq.q[b]] * dq.nested[g] + dq.offset;
      // Nearest-code error: half the widest gap of the dynamic map near +-1 is 0.00703 of the group's absmax.
      JSW_EXPECT(std::fabs(recovered - absmax[b]) <= 0.0071f * dq.nested[g] + 1e-6f, "block %lld: %g vs %g",
                 (long long)b, double(recovered), double(absmax[b]));
    }
    // Dequantization straight from the double-quantized statistics equals dequantization with the recovered
    // absmax (each rounded as product, then sum), bit for bit.
    int64_t n = blocks * 64 - 17;
    std::vector<float> w = randn(n, 5);
    std::vector<uint8_t> packed = quantize(JSW_CPU, JSW_F32, w, 64).packed;
    std::vector<float> recovered(static_cast<size_t>(blocks), 0.0f);
    for (int64_t b = 0; b < blocks; b++) {
      volatile float scaled = code256[dq.q[b]] * dq.nested[b / 256];
      recovered[size_t(b)] = scaled + dq.offset;
    }
    std::vector<float> plain = dequantize(JSW_CPU, JSW_F32, {packed, recovered}, n, 64);
    Buffer p = upload_u8(JSW_CPU, packed), q = upload_u8(JSW_CPU, dq.q), nested = upload(JSW_CPU, JSW_F32, dq.nested);
    Buffer c = upload(JSW_CPU, JSW_F32, code256), out = poisoned(JSW_CPU, JSW_F32, n);
    JSW_CHECK(jsw_nf4_dequantize_dq(JSW_CPU, JSW_F32, p.as<uint8_t>(), q.as<uint8_t>(), nested.as<float>(),
                                    c.as<float>(), dq.offset, n, 64, out.get()));
    std::vector<float> got = download(out, JSW_F32, n);
    for (int64_t i = 0; i < n; i++)
      JSW_EXPECT(same_bits(got[i], plain[i]), "dq dequant[%lld] %g vs %g", (long long)i, double(got[i]),
                 double(plain[i]));
  }
}

JSW_TEST(nf4_rejects_bad_arguments) {
  Buffer x(JSW_CPU, 256), p(JSW_CPU, 256), a(JSW_CPU, 256);
  JSW_EXPECT(jsw_nf4_quantize(JSW_CPU, JSW_F32, x.get(), 10, 0, p.as<uint8_t>(), a.as<float>()) ==
                 JSW_ERR_INVALID_ARGUMENT, "blocksize 0");
  JSW_EXPECT(jsw_nf4_quantize(JSW_CPU, JSW_U8, x.get(), 10, 4, p.as<uint8_t>(), a.as<float>()) ==
                 JSW_ERR_INVALID_ARGUMENT, "u8 input");
  JSW_EXPECT(jsw_nf4_dequantize(JSW_CPU, JSW_F32, p.as<uint8_t>(), nullptr, 10, 4, x.get()) ==
                 JSW_ERR_INVALID_ARGUMENT, "null absmax");
  JSW_EXPECT(std::string(jsw_last_error()).find("absmax is a null pointer") != std::string::npos, "message: %s",
             jsw_last_error());
  JSW_EXPECT(jsw_quantize_absmax_8bit(JSW_CPU, a.as<float>(), 0, p.as<uint8_t>(), a.as<float>(), a.as<float>()) ==
                 JSW_ERR_INVALID_ARGUMENT, "no absmax values");
  JSW_EXPECT(jsw_nf4_codebook(nullptr) == JSW_ERR_INVALID_ARGUMENT, "null codebook");
  int st = jsw_nf4_quantize(jsw_cuda_device_count(), JSW_F32, x.get(), 10, 4, p.as<uint8_t>(), a.as<float>());
  JSW_EXPECT(st == JSW_ERR_NO_DEVICE, "missing CUDA device gives JSW_ERR_NO_DEVICE, got %d", st);
}

JSW_CUDA_TEST(nf4_cuda_codes_bit_exact) {
  int d = cuda_device();
  std::vector<float> code256 = dynamic_map();
  for (int dtype : {JSW_F32, JSW_BF16, JSW_F16}) {
    for (int64_t blocksize : {64, 256, 7}) {
      // 4096 and 262144 (multiples of 16) take the vectorized decode path, the others the general one
      for (int64_t n : {1, 2, 63, 4096, 4097, 262144, 300001}) {
        std::vector<float> x = round_to(randn(n, uint64_t(7 * n + blocksize)), dtype);
        if (n > 200) std::fill(x.begin() + 64, x.begin() + 192, 0.0f);  // zero blocks (NaN scaling path)
        Quantized cpu = quantize(JSW_CPU, dtype, x, blocksize), gpu = quantize(d, dtype, x, blocksize);
        std::string tag = "dtype " + std::to_string(dtype) + " bs " + std::to_string(blocksize) + " n " +
                          std::to_string(n);
        JSW_EXPECT(cpu.packed == gpu.packed, "%s: packed codes differ", tag.c_str());
        JSW_EXPECT(cpu.absmax == gpu.absmax, "%s: absmax differs", tag.c_str());
        std::vector<float> a = dequantize(JSW_CPU, dtype, cpu, n, blocksize);
        std::vector<float> b = dequantize(d, dtype, cpu, n, blocksize);
        for (int64_t i = 0; i < n; i++)
          JSW_EXPECT(same_bits(a[i], b[i]) || (a[i] == 0.0f && b[i] == 0.0f), "%s: dequant[%lld] %g vs %g",
                     tag.c_str(), (long long)i, double(a[i]), double(b[i]));
        // Double quantization of this absmax vector: identical codes, scales, offset and dequantized values.
        DoubleQuant dc = double_quantize(JSW_CPU, cpu.absmax), dg = double_quantize(d, cpu.absmax);
        JSW_EXPECT(dc.q == dg.q && dc.nested == dg.nested && same_bits(dc.offset, dg.offset),
                   "%s: double quantization differs (offset %.9g vs %.9g)", tag.c_str(), double(dc.offset),
                   double(dg.offset));
        std::vector<float> outs[2];
        for (int k = 0; k < 2; k++) {
          int dev = k == 0 ? JSW_CPU : d;
          Buffer p = upload_u8(dev, cpu.packed), q = upload_u8(dev, dc.q), nested = upload(dev, JSW_F32, dc.nested);
          Buffer c = upload(dev, JSW_F32, code256), out = poisoned(dev, dtype, n);
          JSW_CHECK(jsw_nf4_dequantize_dq(dev, dtype, p.as<uint8_t>(), q.as<uint8_t>(), nested.as<float>(),
                                          c.as<float>(), dc.offset, n, blocksize, out.get()));
          outs[k] = download(out, dtype, n);
        }
        for (int64_t i = 0; i < n; i++)
          JSW_EXPECT(same_bits(outs[0][i], outs[1][i]) || (outs[0][i] == 0.0f && outs[1][i] == 0.0f),
                     "%s: dq dequant[%lld] %g vs %g", tag.c_str(), (long long)i, double(outs[0][i]),
                     double(outs[1][i]));
      }
    }
  }
}
