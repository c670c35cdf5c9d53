// KV-cache decode attention: the CPU kernel against a double-precision attention over the cache (both CPU
// instruction-set builds), token-by-token decoding through jsw_kv_cache_append against the training forward over
// the whole sequence, argument checks, and the CUDA twin against the CPU.
#include <cstdlib>
#include <cstring>
#include <string>

#include "test.h"

using namespace jsw_test;

namespace {

struct Case {
  const char* name;
  int64_t batch, q_len, capacity, heads, kv_heads, head_dim, window;
  std::vector<int32_t> kv_len;
  std::vector<int32_t> key_mask;  // [batch, capacity] when not empty

  float scale() const { return 1.0f / std::sqrt(float(head_dim)); }
  int64_t q_elems() const { return batch * q_len * heads * head_dim; }
  int64_t cache_elems() const { return batch * capacity * kv_heads * head_dim; }
  // The contract's visibility rule, written independently of the kernel.
  bool visible(int64_t b, int64_t i, int64_t j) const {
    const int64_t p = kv_len[b] - q_len + i;
    return j <= p && (window <= 0 || p - j < window) && (key_mask.empty() || key_mask[b * capacity + j] != 0);
  }
};

// Left padding: sequence b's first pad[b] slots are padding.
std::vector<int32_t> left_padding(int64_t capacity, std::vector<int64_t> pad) {
  std::vector<int32_t> m;
  for (int64_t p : pad)
    for (int64_t j = 0; j < capacity; j++) m.push_back(j < p ? 0 : 1);
  return m;
}

std::vector<Case> cases() {
  return {
      // kv_len at both bounds: a full cache and a cache holding only the new token
      {"decode gqa4 d128", 3, 1, 300, 8, 2, 128, 0, {300, 1, 157}, {}},
      {"decode mha d64 window16", 2, 1, 200, 2, 2, 64, 16, {200, 50}, {}},
      {"continuation q7 gqa2 d80", 2, 7, 100, 4, 2, 80, 0, {7, 93}, {}},
      {"prefill q=kv=capacity d64", 2, 70, 70, 2, 2, 64, 0, {70, 70}, {}},
      // the last sequence is all padding up to its only token's slot... and that slot is padding too: no key
      {"decode left padding gqa4", 3, 1, 40, 8, 2, 128, 0, {40, 40, 25}, left_padding(40, {0, 13, 25})},
      {"q5 window3 left padding mqa d33", 2, 5, 30, 3, 1, 33, 3, {30, 12}, left_padding(30, {4, 2})},
      // one tile and a long cache: the CPU splits the keys over threads and merges the partials
      {"decode split keys gqa4", 1, 1, 2000, 4, 1, 128, 0, {1999}, {}},
      {"decode split keys window700", 1, 1, 2000, 8, 2, 64, 700, {2000}, {}},
      // 160 rows: three CPU tiles, a continuation of 10 cached tokens
      {"prefill chunk q40 gqa4 d40", 1, 40, 60, 8, 2, 40, 0, {50}, {}},
      {"q3 gqa8 d256", 2, 3, 20, 8, 1, 256, 0, {20, 3}, {}},
      // a window longer than any cache (as a model config may give) is no window, and must not overflow
      {"decode window 2^62", 2, 2, 300, 4, 2, 64, int64_t(1) << 62, {300, 130}, {}},
      // chunks of 16 or more queries (CUDA: the flash kernel over the cache): two query blocks of 128 and left
      // padding, a whole cache as the chunk; a window; head_dim 96; a chunk that is exactly the cache
      {"prefill chunk q130 gqa4 d128 left padding", 2, 130, 300, 8, 2, 128, 0, {200, 130},
       left_padding(300, {3, 0})},
      {"prefill chunk q20 window24 d64", 2, 20, 64, 4, 4, 64, 24, {64, 45}, {}},
      {"prefill chunk q16 gqa2 d96", 1, 16, 40, 2, 1, 96, 0, {33}, {}},
      // the last sequence's cache full, rows of 40 values: the CUDA staged copies of the last key's row must stop
      // at column 40 of the last slot (a copy past it would read beyond the cache; compute-sanitizer sees it)
      {"decode full cache gqa2 d40", 2, 1, 96, 4, 2, 40, 0, {50, 96}, {}},
  };
}

struct Inputs {
  std::vector<float> q, k, v;
};

Inputs inputs_for(const Case& c, int dtype, uint64_t seed) {
  return {round_to(randn(c.q_elems(), seed), dtype), round_to(randn(c.cache_elems(), seed + 1), dtype),
          round_to(randn(c.cache_elems(), seed + 2), dtype)};
}

struct Result {
  std::vector<float> out, lse;
};

// Softmax over the visible cache slots of each query, in double.
Result reference(const Case& c, const Inputs& in) {
  const int64_t H = c.heads, KH = c.kv_heads, D = c.head_dim, G = H / KH, C = c.capacity;
  Result r{std::vector<float>(c.q_elems(), 0.0f), std::vector<float>(c.batch * c.q_len * H, 0.0f)};
  for (int64_t b = 0; b < c.batch; b++)
    for (int64_t i = 0; i < c.q_len; i++)
      for (int64_t h = 0; h < H; h++) {
        const int64_t row = (b * c.q_len + i) * H + h, kh = h / G;
        const float* qi = &in.q[row * D];
        std::vector<double> s(C, -INFINITY);
        double mx = -INFINITY;
        for (int64_t j = 0; j < C; j++) {
          if (!c.visible(b, i, j)) continue;
          double dot = 0;
          for (int64_t d = 0; d < D; d++) dot += double(qi[d]) * in.k[((b * C + j) * KH + kh) * D + d];
          s[j] = dot * c.scale();
          mx = std::max(mx, s[j]);
        }
        if (mx == -INFINITY) {
          r.lse[row] = -INFINITY;
          continue;
        }
        double sum = 0;
        for (int64_t j = 0; j < C; j++) sum += std::exp(s[j] - mx);
        r.lse[row] = float(mx + std::log(sum));
        for (int64_t d = 0; d < D; d++) {
          double o = 0;
          for (int64_t j = 0; j < C; j++)
            if (s[j] != -INFINITY) o += std::exp(s[j] - mx) / sum * in.v[((b * C + j) * KH + kh) * D + d];
          r.out[row * D + d] = float(o);
        }
      }
  return r;
}

Result run(int device, int dtype, const Case& c, const Inputs& in) {
  Buffer q = upload(device, dtype, in.q), k = upload(device, dtype, in.k), v = upload(device, dtype, in.v);
  Buffer len = upload_i32(device, c.kv_len);
  Buffer mask = upload_i32(device, c.key_mask.empty() ? std::vector<int32_t>{0} : c.key_mask);
  Buffer out = poisoned(device, dtype, c.q_elems()), lse = poisoned(device, JSW_F32, c.batch * c.q_len * c.heads);
  JSW_CHECK(jsw_attention_decode(device, dtype, q.get(), k.get(), v.get(), len.as<int32_t>(),
                                 c.key_mask.empty() ? nullptr : mask.as<int32_t>(), c.batch, c.q_len, c.capacity,
                                 c.heads, c.kv_heads, c.head_dim, c.window, c.scale(), out.get(), lse.as<float>()));
  JSW_CHECK(jsw_synchronize(device));
  return {download(out, dtype, c.q_elems()), download(lse, JSW_F32, c.batch * c.q_len * c.heads)};
}

// lse may be -inf (a query that sees no key): the -inf pattern must match exactly, the rest be close.
void expect_lse(const std::string& what, std::vector<float> got, std::vector<float> want, float atol) {
  JSW_EXPECT(got.size() == want.size(), "%s: size %zu != %zu", what.c_str(), got.size(), want.size());
  for (size_t i = 0; i < want.size(); i++) {
    const bool gi = got[i] == -INFINITY, wi = want[i] == -INFINITY;
    JSW_EXPECT(gi == wi, "%s: element %zu got %g want %g", what.c_str(), i, double(got[i]), double(want[i]));
    if (gi) got[i] = want[i] = 0.0f;
  }
  expect_close(what, got, want, atol, 0.0f);
}

// fp32 scores over head_dim <= 256 terms and a ~2 ulp exp: out and lse carry ~1e-6 relative error, as in the
// training attention's test; the split merge adds one more exp and division per row.
void cpu_against_reference() {
  uint64_t seed = 1000;
  for (const Case& c : cases()) {
    Inputs in = inputs_for(c, JSW_F32, seed += 10);
    Result want = reference(c, in), got = run(JSW_CPU, JSW_F32, c, in);
    expect_close(std::string(c.name) + " out", got.out, want.out, 2e-5f, 1e-4f);
    expect_lse(std::string(c.name) + " lse", got.lse, want.lse, 2e-5f);
  }
}

// Decodes a batch through the cache as a generator would: a prompt chunk of `prefill` tokens, then one token at a
// time, appending each step's keys/values first; returns every step's out and lse in the training layout
// ([batch * seq, heads, head_dim] and [batch * seq, heads]).
Result decode_through_cache(int device, int dtype, int64_t batch, int64_t seq, int64_t prefill, int64_t capacity,
                            int64_t heads, int64_t kv_heads, int64_t head_dim, int64_t window,
                            const std::vector<int32_t>& key_mask, const std::vector<float>& q,
                            const std::vector<float>& k, const std::vector<float>& v) {
  const int64_t H = heads, KH = kv_heads, D = head_dim;
  const float scale = 1.0f / std::sqrt(float(D));
  Buffer kc = poisoned(device, dtype, batch * capacity * KH * D);
  Buffer vc = poisoned(device, dtype, batch * capacity * KH * D);
  Buffer mask = upload_i32(device, key_mask);
  Result all{std::vector<float>(batch * seq * H * D), std::vector<float>(batch * seq * H)};
  for (int64_t t0 = 0; t0 < seq;) {
    const int64_t n = t0 == 0 ? prefill : 1;  // new tokens this step
    // the step's queries / keys / values, [batch, n, ...], gathered from the [batch, seq, ...] sequences
    std::vector<float> qs, ks, vs;
    for (int64_t b = 0; b < batch; b++) {
      qs.insert(qs.end(), q.begin() + ((b * seq + t0) * H) * D, q.begin() + ((b * seq + t0 + n) * H) * D);
      ks.insert(ks.end(), k.begin() + ((b * seq + t0) * KH) * D, k.begin() + ((b * seq + t0 + n) * KH) * D);
      vs.insert(vs.end(), v.begin() + ((b * seq + t0) * KH) * D, v.begin() + ((b * seq + t0 + n) * KH) * D);
    }
    Buffer qb = upload(device, dtype, qs), kb = upload(device, dtype, ks), vb = upload(device, dtype, vs);
    Buffer len = upload_i32(device, std::vector<int32_t>(size_t(batch), int32_t(t0 + n)));
    Buffer out = poisoned(device, dtype, batch * n * H * D), lse = poisoned(device, JSW_F32, batch * n * H);
    JSW_CHECK(jsw_kv_cache_append(device, dtype, kb.get(), vb.get(), kc.get(), vc.get(), len.as<int32_t>(), batch, n,
                                  capacity, KH, D));
    JSW_CHECK(jsw_attention_decode(device, dtype, qb.get(), kc.get(), vc.get(), len.as<int32_t>(),
                                   mask.as<int32_t>(), batch, n, capacity, H, KH, D, window, scale, out.get(),
                                   lse.as<float>()));
    std::vector<float> o = download(out, dtype, batch * n * H * D), l = download(lse, JSW_F32, batch * n * H);
    for (int64_t b = 0; b < batch; b++) {
      std::copy(o.begin() + b * n * H * D, o.begin() + (b + 1) * n * H * D, all.out.begin() + (b * seq + t0) * H * D);
      std::copy(l.begin() + b * n * H, l.begin() + (b + 1) * n * H, all.lse.begin() + (b * seq + t0) * H);
    }
    t0 += n;
  }
  return all;
}

void decoding_matches_training_forward(int dtype, int64_t window) {
  // Two left-padded sequences of 37 slots (3 and 0 padding tokens) in a cache of 48, GQA 2, head_dim 64: a
  // prompt of 5 tokens then 32 single-token steps. The training forward sees the 37 tokens at once (causal,
  // padded layout, the same key mask), so its row t is what decoding step t must give.
  const int64_t B = 2, T = 37, C = 48, H = 4, KH = 2, D = 64;
  std::vector<float> q = round_to(randn(B * T * H * D, 71), dtype), k = round_to(randn(B * T * KH * D, 72), dtype);
  std::vector<float> v = round_to(randn(B * T * KH * D, 73), dtype);
  std::vector<int32_t> train_mask, cache_mask;
  for (int64_t b = 0; b < B; b++) {
    const int64_t pad = b == 0 ? 3 : 0;
    for (int64_t j = 0; j < T; j++) train_mask.push_back(j < pad ? 0 : 1);
    for (int64_t j = 0; j < C; j++) cache_mask.push_back(j < pad ? 0 : 1);
  }
  Result got = decode_through_cache(JSW_CPU, dtype, B, T, 5, C, H, KH, D, window, cache_mask, q, k, v);

  Buffer qb = upload(JSW_CPU, dtype, q), kb = upload(JSW_CPU, dtype, k), vb = upload(JSW_CPU, dtype, v);
  Buffer mask = upload_i32(JSW_CPU, train_mask);
  Buffer out = poisoned(JSW_CPU, dtype, B * T * H * D), lse = poisoned(JSW_CPU, JSW_F32, B * T * H);
  JSW_CHECK(jsw_attention_fwd(JSW_CPU, dtype, qb.get(), kb.get(), vb.get(), B, T, H, KH, D, nullptr,
                              mask.as<int32_t>(), 1, window, 1.0f / std::sqrt(float(D)), out.get(), lse.as<float>()));
  Result want{download(out, dtype, B * T * H * D), download(lse, JSW_F32, B * T * H)};
  const std::string tag = std::string(dtype == JSW_F32 ? "f32" : "bf16") + " window " + std::to_string(window);
  if (dtype == JSW_F32) {
    // Two fp32 kernels with different blockings and exps: a few ulp apart.
    expect_close(tag + " out", got.out, want.out, 1e-5f, 1e-4f);
    expect_lse(tag + " lse", got.lse, want.lse, 1e-5f);
  } else {
    // Both compute in fp32 from the same bf16 inputs and round out once: at most a bf16 ulp apart (2^-8
    // relative, values |out| < 4).
    expect_close(tag + " out", got.out, want.out, 2e-2f, 8e-3f);
    expect_lse(tag + " lse", got.lse, want.lse, 1e-5f);
  }
}

}  // namespace

JSW_TEST(attention_decode_cpu_matches_double_reference) { cpu_against_reference(); }

JSW_TEST(attention_decode_cpu_baseline_isa_matches_double_reference) { with_baseline_isa(cpu_against_reference); }

JSW_TEST(attention_decode_cpu_16bit_storage) {
  for (int dtype : {JSW_BF16, JSW_F16}) {
    for (const Case& c : {cases()[0], cases()[2], cases()[4], cases()[6]}) {
      Inputs in = inputs_for(c, dtype, 7);
      Result want = reference(c, in), got = run(JSW_CPU, dtype, c, in);
      // fp32 math on exactly representable inputs; only the stores round (bf16: 2^-9 relative, f16: 2^-12).
      const double tol = dtype == JSW_BF16 ? 8e-3 : 1e-3;
      const std::string tag = std::string(c.name) + (dtype == JSW_BF16 ? " bf16" : " f16");
      expect_rel_norm(tag + " out", got.out, want.out, tol);
      expect_lse(tag + " lse", got.lse, want.lse, 1e-4f);
    }
  }
}

JSW_TEST(attention_decode_no_visible_key_gives_zeros) {
  Case c = cases()[4];  // sequence 2: its only visible slot is padding
  Result got = run(JSW_CPU, JSW_F32, c, inputs_for(c, JSW_F32, 3));
  for (int64_t h = 0; h < c.heads; h++) {
    const int64_t row = 2 * c.heads + h;
    JSW_EXPECT(got.lse[row] == -INFINITY, "lse of head %lld = %g", (long long)h, double(got.lse[row]));
    for (int64_t d = 0; d < c.head_dim; d++)
      JSW_EXPECT(got.out[row * c.head_dim + d] == 0.0f, "out of head %lld at %lld", (long long)h, (long long)d);
  }
}

JSW_TEST(attention_decode_without_lse) {
  Case c = cases()[6];  // the split path, whose merge writes lse
  Inputs in = inputs_for(c, JSW_F32, 5);
  Buffer q = upload(JSW_CPU, JSW_F32, in.q), k = upload(JSW_CPU, JSW_F32, in.k), v = upload(JSW_CPU, JSW_F32, in.v);
  Buffer len = upload_i32(JSW_CPU, c.kv_len), out = poisoned(JSW_CPU, JSW_F32, c.q_elems());
  JSW_CHECK(jsw_attention_decode(JSW_CPU, JSW_F32, q.get(), k.get(), v.get(), len.as<int32_t>(), nullptr, c.batch,
                                 c.q_len, c.capacity, c.heads, c.kv_heads, c.head_dim, c.window, c.scale(), out.get(),
                                 nullptr));
  expect_close("out without lse", download(out, JSW_F32, c.q_elems()), reference(c, in).out, 2e-5f, 1e-4f);
}

JSW_TEST(attention_decode_token_by_token_matches_training_forward) {
  decoding_matches_training_forward(JSW_F32, 0);
  decoding_matches_training_forward(JSW_F32, 8);
  decoding_matches_training_forward(JSW_BF16, 0);
}

JSW_TEST(attention_decode_kv_cache_append_writes_only_the_new_slots) {
  // bf16 cache of 6 slots, kv_heads 2, head_dim 3; sequence 0 appends 2 tokens ending at length 5 (slots 3, 4),
  // sequence 1 ending at length 2 (slots 0, 1). Every other slot keeps its NaN poison.
  const int64_t B = 2, L = 2, C = 6, KH = 2, D = 3, row = KH * D;
  std::vector<float> kn = round_to(randn(B * L * row, 9), JSW_BF16), vn = round_to(randn(B * L * row, 10), JSW_BF16);
  Buffer knb = upload(JSW_CPU, JSW_BF16, kn), vnb = upload(JSW_CPU, JSW_BF16, vn);
  Buffer kc = poisoned(JSW_CPU, JSW_BF16, B * C * row), vc = poisoned(JSW_CPU, JSW_BF16, B * C * row);
  Buffer len = upload_i32(JSW_CPU, {5, 2});
  JSW_CHECK(jsw_kv_cache_append(JSW_CPU, JSW_BF16, knb.get(), vnb.get(), kc.get(), vc.get(), len.as<int32_t>(), B, L,
                                C, KH, D));
  std::vector<float> k = download(kc, JSW_BF16, B * C * row), v = download(vc, JSW_BF16, B * C * row);
  const int64_t first[2] = {3, 0};
  for (int64_t b = 0; b < B; b++)
    for (int64_t j = 0; j < C; j++)
      for (int64_t e = 0; e < row; e++) {
        const int64_t at = (b * C + j) * row + e;
        const int64_t i = j - first[b];
        if (i >= 0 && i < L) {
          JSW_EXPECT(k[at] == kn[(b * L + i) * row + e] && v[at] == vn[(b * L + i) * row + e],
                     "seq %lld slot %lld element %lld", (long long)b, (long long)j, (long long)e);
        } else {
          JSW_EXPECT(std::isnan(k[at]) && std::isnan(v[at]), "seq %lld slot %lld was written", (long long)b,
                     (long long)j);
        }
      }
}

JSW_TEST(attention_decode_rejects_bad_arguments) {
  Buffer x(JSW_CPU, 1 << 16), lse(JSW_CPU, 4096);
  float* l = lse.as<float>();
  auto decode = [&](const int32_t* len, int64_t q_len, int64_t heads, int64_t kv_heads, int64_t head_dim) {
    return jsw_attention_decode(JSW_CPU, JSW_F32, x.get(), x.get(), x.get(), len, nullptr, 2, q_len, 8, heads,
                                kv_heads, head_dim, 0, 0.25f, x.get(), l);
  };
  const std::string msg = "kv_len[1] = 9 is outside [q_len = 2, capacity = 8]";
  int32_t too_long[2] = {8, 9}, too_short[2] = {2, 1}, ok[2] = {2, 8};
  // The lengths are checked before anything is written: out keeps its poison.
  Buffer out = poisoned(JSW_CPU, JSW_F32, 2 * 2 * 2 * 4);
  JSW_EXPECT(jsw_attention_decode(JSW_CPU, JSW_F32, x.get(), x.get(), x.get(), too_long, nullptr, 2, 2, 8, 2, 2, 4, 0,
                                  0.5f, out.get(), nullptr) == JSW_ERR_INVALID_ARGUMENT,
             "kv_len above capacity");
  JSW_EXPECT(std::string(jsw_last_error()).find(msg) != std::string::npos, "message: %s", jsw_last_error());
  for (float o : download(out, JSW_F32, 2 * 2 * 2 * 4)) JSW_EXPECT(std::isnan(o), "out written before the check");
  JSW_EXPECT(decode(too_short, 2, 2, 2, 4) == JSW_ERR_INVALID_ARGUMENT, "kv_len below q_len");
  JSW_EXPECT(std::string(jsw_last_error()).find("kv_len[1] = 1 is outside [q_len = 2") != std::string::npos,
             "message: %s", jsw_last_error());
  JSW_EXPECT(decode(ok, 9, 2, 2, 4) == JSW_ERR_INVALID_ARGUMENT, "q_len above capacity");
  JSW_EXPECT(std::string(jsw_last_error()).find("q_len (9) must be <= capacity (8)") != std::string::npos,
             "message: %s", jsw_last_error());
  JSW_EXPECT(decode(ok, 2, 3, 2, 4) == JSW_ERR_INVALID_ARGUMENT, "heads not a multiple");
  JSW_EXPECT(std::string(jsw_last_error()).find("multiple of kv_heads") != std::string::npos, "message: %s",
             jsw_last_error());
  JSW_EXPECT(decode(ok, 2, 2, 2, 300) == JSW_ERR_INVALID_ARGUMENT, "head_dim 300");
  JSW_EXPECT(decode(nullptr, 2, 2, 2, 4) == JSW_ERR_INVALID_ARGUMENT, "null kv_len");
  JSW_EXPECT(std::string(jsw_last_error()).find("kv_len is a null pointer") != std::string::npos, "message: %s",
             jsw_last_error());
  JSW_EXPECT(jsw_attention_decode(JSW_CPU, JSW_I32, x.get(), x.get(), x.get(), ok, nullptr, 2, 2, 8, 2, 2, 4, 0,
                                  0.25f, x.get(), l) == JSW_ERR_INVALID_ARGUMENT,
             "int dtype");
  JSW_EXPECT(jsw_attention_decode(JSW_CPU, JSW_F32, x.get(), x.get(), x.get(), ok, nullptr, 2, 2, 8, 2, 2, 4, 0, NAN,
                                  x.get(), l) == JSW_ERR_INVALID_ARGUMENT,
             "NaN scale");
  JSW_EXPECT(jsw_attention_decode(JSW_CPU, JSW_F32, x.get(), x.get(), x.get(), ok, nullptr, 2, 2, 8, 2, 2, 4, 0,
                                  0.25f, nullptr, l) == JSW_ERR_INVALID_ARGUMENT,
             "null out");
  const int st = jsw_attention_decode(jsw_cuda_device_count(), JSW_F32, x.get(), x.get(), x.get(), ok, nullptr, 2, 2,
                                      8, 2, 2, 4, 0, 0.25f, x.get(), l);
  JSW_EXPECT(st == JSW_ERR_NO_DEVICE, "missing CUDA device gives JSW_ERR_NO_DEVICE, got %d", st);
  // No sequence or no new token: nothing to do, and no pointer is touched.
  JSW_CHECK(jsw_attention_decode(JSW_CPU, JSW_F32, nullptr, nullptr, nullptr, nullptr, nullptr, 0, 1, 8, 2, 2, 4, 0,
                                 0.25f, nullptr, nullptr));
  JSW_CHECK(jsw_attention_decode(JSW_CPU, JSW_F32, nullptr, nullptr, nullptr, nullptr, nullptr, 2, 0, 8, 2, 2, 4, 0,
                                 0.25f, nullptr, nullptr));

  // The append checks the same lengths, before writing.
  Buffer cache = poisoned(JSW_CPU, JSW_F32, 2 * 8 * 2 * 4);
  JSW_EXPECT(jsw_kv_cache_append(JSW_CPU, JSW_F32, x.get(), x.get(), cache.get(), cache.get(), too_long, 2, 2, 8, 2,
                                 4) == JSW_ERR_INVALID_ARGUMENT,
             "append: kv_len above capacity");
  JSW_EXPECT(std::string(jsw_last_error()).find(msg) != std::string::npos, "message: %s", jsw_last_error());
  for (float o : download(cache, JSW_F32, 2 * 8 * 2 * 4)) JSW_EXPECT(std::isnan(o), "cache written before the check");
  JSW_EXPECT(jsw_kv_cache_append(JSW_CPU, JSW_F32, x.get(), nullptr, cache.get(), cache.get(), ok, 2, 2, 8, 2, 4) ==
                 JSW_ERR_INVALID_ARGUMENT,
             "append: null v_new");
  JSW_EXPECT(std::string(jsw_last_error()).find("v_new is a null pointer") != std::string::npos, "message: %s",
             jsw_last_error());
  JSW_EXPECT(jsw_kv_cache_append(JSW_CPU, JSW_F32, x.get(), x.get(), cache.get(), cache.get(), ok, 2, 9, 8, 2, 4) ==
                 JSW_ERR_INVALID_ARGUMENT,
             "append: q_len above capacity");
}

JSW_CUDA_TEST(attention_decode_cuda_matches_cpu) {
  uint64_t seed = 3000;
  for (int dtype : {JSW_F32, JSW_BF16, JSW_F16}) {
    for (const Case& c : cases()) {
      Inputs in = inputs_for(c, dtype, seed += 10);
      Result cpu = run(JSW_CPU, JSW_F32, c, in);
      Result gpu = run(cuda_device(), dtype, c, in);
      const std::string tag = std::string(c.name) + " dtype " + std::to_string(dtype);
      if (dtype == JSW_F32) {
        // Same fp32 math, different summation order and exp: a few ulp of the CPU result.
        expect_close(tag + " out", gpu.out, cpu.out, 1e-5f, 1e-4f);
        expect_lse(tag + " lse", gpu.lse, cpu.lse, 1e-5f);
      } else {
        // The GPU computes in fp32 from the same rounded inputs and rounds out once (bf16 2^-9, f16 2^-12
        // relative per element); lse stays fp32.
        expect_rel_norm(tag + " out", gpu.out, cpu.out, dtype == JSW_BF16 ? 8e-3 : 1e-3);
        expect_lse(tag + " lse", gpu.lse, cpu.lse, 1e-5f);
      }
    }
  }
}

// The decode kernel's two ways to its K / V rows, staged in shared memory (the default) and loaded into registers
// (JSWIFT_DECODE_LOADS=registers), compute the same values in the same order: equal bit for bit, out and lse. The
// chunk cases run the decode kernel too (JSWIFT_PREFILL_TC=0); d33 rows are not whole 16-byte vectors, so both
// runs take the register path there.
JSW_CUDA_TEST(attention_decode_cuda_staged_equals_register_loads) {
  uint64_t seed = 5000;
  with_env("JSWIFT_PREFILL_TC", "0", [&] {
    for (int dtype : {JSW_F32, JSW_BF16, JSW_F16})
      for (const Case& c : cases()) {
        Inputs in = inputs_for(c, dtype, seed += 10);
        Result staged = run(cuda_device(), dtype, c, in), registers;
        with_env("JSWIFT_DECODE_LOADS", "registers", [&] { registers = run(cuda_device(), dtype, c, in); });
        const std::string tag = std::string(c.name) + " dtype " + std::to_string(dtype);
        JSW_EXPECT(std::memcmp(staged.out.data(), registers.out.data(), staged.out.size() * sizeof(float)) == 0,
                   "%s: out differs between the staged and the register loads", tag.c_str());
        JSW_EXPECT(std::memcmp(staged.lse.data(), registers.lse.data(), staged.lse.size() * sizeof(float)) == 0,
                   "%s: lse differs between the staged and the register loads", tag.c_str());
      }
  });
}

JSW_CUDA_TEST(attention_decode_cuda_without_lse) {
  // lse is optional on both the direct path and the split-merge path (cases 3 and 6 on any GPU).
  for (const Case& c : {cases()[3], cases()[6]}) {
    const int dev = cuda_device();
    Inputs in = inputs_for(c, JSW_BF16, 23);
    Buffer q = upload(dev, JSW_BF16, in.q), k = upload(dev, JSW_BF16, in.k), v = upload(dev, JSW_BF16, in.v);
    Buffer len = upload_i32(dev, c.kv_len), out = poisoned(dev, JSW_BF16, c.q_elems());
    JSW_CHECK(jsw_attention_decode(dev, JSW_BF16, q.get(), k.get(), v.get(), len.as<int32_t>(), nullptr, c.batch,
                                   c.q_len, c.capacity, c.heads, c.kv_heads, c.head_dim, c.window, c.scale(),
                                   out.get(), nullptr));
    JSW_CHECK(jsw_synchronize(dev));
    expect_rel_norm(std::string(c.name) + " out without lse", download(out, JSW_BF16, c.q_elems()),
                    run(JSW_CPU, JSW_F32, c, in).out, 8e-3);
  }
}

JSW_CUDA_TEST(attention_decode_cuda_token_by_token_matches_cpu) {
  // The whole generation loop (append + decode, prompt chunk then single tokens) on the GPU and on the CPU.
  const int64_t B = 3, T = 29, C = 40, H = 8, KH = 2, D = 128;
  std::vector<float> q = round_to(randn(B * T * H * D, 81), JSW_BF16);
  std::vector<float> k = round_to(randn(B * T * KH * D, 82), JSW_BF16);
  std::vector<float> v = round_to(randn(B * T * KH * D, 83), JSW_BF16);
  std::vector<int32_t> mask = left_padding(C, {0, 2, 5});
  Result cpu = decode_through_cache(JSW_CPU, JSW_F32, B, T, 6, C, H, KH, D, 0, mask, q, k, v);
  Result gpu = decode_through_cache(cuda_device(), JSW_BF16, B, T, 6, C, H, KH, D, 0, mask, q, k, v);
  expect_rel_norm("generation out", gpu.out, cpu.out, 8e-3);
  expect_lse("generation lse", gpu.lse, cpu.lse, 1e-5f);
}

JSW_CUDA_TEST(attention_decode_kv_cache_append_cuda_matches_cpu) {
  const int64_t B = 3, L = 4, C = 11, KH = 3, D = 40, row = KH * D;
  std::vector<int32_t> lens = {4, 11, 7};
  for (int dtype : {JSW_F32, JSW_BF16, JSW_F16}) {
    std::vector<float> kn = round_to(randn(B * L * row, 91), dtype), vn = round_to(randn(B * L * row, 92), dtype);
    std::vector<float> base = round_to(randn(B * C * row, 93), dtype);
    std::vector<float> want_k, want_v, got_k, got_v;
    for (int side = 0; side < 2; side++) {
      int device = side == 0 ? int(JSW_CPU) : cuda_device();
      Buffer knb = upload(device, dtype, kn), vnb = upload(device, dtype, vn);
      Buffer kc = upload(device, dtype, base), vc = upload(device, dtype, base), len = upload_i32(device, lens);
      JSW_CHECK(jsw_kv_cache_append(device, dtype, knb.get(), vnb.get(), kc.get(), vc.get(), len.as<int32_t>(), B, L,
                                    C, KH, D));
      JSW_CHECK(jsw_synchronize(device));
      (side == 0 ? want_k : got_k) = download(kc, dtype, B * C * row);
      (side == 0 ? want_v : got_v) = download(vc, dtype, B * C * row);
    }
    expect_close("append k dtype " + std::to_string(dtype), got_k, want_k, 0.0f, 0.0f);  // a copy: exact
    expect_close("append v dtype " + std::to_string(dtype), got_v, want_v, 0.0f, 0.0f);
  }
}

// A chunk on the flash kernel (q_len >= 16, bf16) flags a bad kv_len the same way: that sequence gets out = 0 and
// lse = -inf, the other one its attention.
JSW_CUDA_TEST(attention_decode_cuda_chunk_rejects_bad_kv_len) {
  cuda_only_behaviour("device lengths flagged by the kernels");
  const int dev = cuda_device();
  Case c{"bad kv_len chunk", 2, 16, 40, 4, 2, 64, 0, {9, 30}, {}};  // 9 < q_len
  Inputs in = inputs_for(c, JSW_BF16, 19);
  Buffer q = upload(dev, JSW_BF16, in.q), k = upload(dev, JSW_BF16, in.k), v = upload(dev, JSW_BF16, in.v);
  Buffer len = upload_i32(dev, c.kv_len);
  const int64_t per_seq = c.q_len * c.heads * c.head_dim, lse_per_seq = c.q_len * c.heads;
  Buffer out = poisoned(dev, JSW_BF16, c.q_elems()), lse = poisoned(dev, JSW_F32, c.batch * lse_per_seq);
  JSW_CHECK(jsw_attention_decode(dev, JSW_BF16, q.get(), k.get(), v.get(), len.as<int32_t>(), nullptr, c.batch,
                                 c.q_len, c.capacity, c.heads, c.kv_heads, c.head_dim, 0, c.scale(), out.get(),
                                 lse.as<float>()));
  int st = jsw_synchronize(dev);
  JSW_EXPECT(st == JSW_ERR_INVALID_ARGUMENT, "bad kv_len reported, got %d", st);
  JSW_CHECK(jsw_synchronize(dev));
  std::vector<float> o = download(out, JSW_BF16, c.q_elems()), l = download(lse, JSW_F32, c.batch * lse_per_seq);
  for (int64_t e = 0; e < per_seq; e++) JSW_EXPECT(o[e] == 0.0f, "bad sequence out[%lld] = %g", (long long)e, double(o[e]));
  for (int64_t i = 0; i < lse_per_seq; i++) JSW_EXPECT(l[i] == -INFINITY, "bad sequence lse[%lld]", (long long)i);
  Case good = c;
  good.batch = 1;
  good.kv_len = {30};
  Inputs gin = in;
  gin.q.assign(in.q.begin() + per_seq, in.q.end());
  gin.k.assign(in.k.begin() + c.capacity * c.kv_heads * c.head_dim, in.k.end());
  gin.v.assign(in.v.begin() + c.capacity * c.kv_heads * c.head_dim, in.v.end());
  Result want = run(JSW_CPU, JSW_F32, good, gin);
  expect_rel_norm("good sequence out", std::vector<float>(o.begin() + per_seq, o.end()), want.out, 8e-3);
}

JSW_CUDA_TEST(attention_decode_cuda_rejects_bad_kv_len) {
  cuda_only_behaviour("device lengths flagged by the kernels");
  // Device lengths are checked by the kernels: the bad sequence gives out = 0 and lse = -inf, the good one its
  // attention, and jsw_synchronize reports the flag (then clears it). The append writes nothing for it.
  const int dev = cuda_device();
  Case c{"bad kv_len", 2, 1, 16, 4, 2, 64, 0, {9, 17}, {}};
  Inputs in = inputs_for(c, JSW_BF16, 17);
  Buffer q = upload(dev, JSW_BF16, in.q), k = upload(dev, JSW_BF16, in.k), v = upload(dev, JSW_BF16, in.v);
  Buffer len = upload_i32(dev, c.kv_len);
  Buffer out = poisoned(dev, JSW_BF16, c.q_elems()), lse = poisoned(dev, JSW_F32, c.batch * c.heads);
  JSW_CHECK(jsw_attention_decode(dev, JSW_BF16, q.get(), k.get(), v.get(), len.as<int32_t>(), nullptr, c.batch,
                                 c.q_len, c.capacity, c.heads, c.kv_heads, c.head_dim, 0, c.scale(), out.get(),
                                 lse.as<float>()));
  int st = jsw_synchronize(dev);
  JSW_EXPECT(st == JSW_ERR_INVALID_ARGUMENT, "bad kv_len reported, got %d", st);
  JSW_EXPECT(std::string(jsw_last_error()).find("kv_len") != std::string::npos, "message: %s", jsw_last_error());
  JSW_CHECK(jsw_synchronize(dev));  // the flag was cleared
  std::vector<float> o = download(out, JSW_BF16, c.q_elems()), l = download(lse, JSW_F32, c.batch * c.heads);
  for (int64_t e = c.heads * c.head_dim; e < 2 * c.heads * c.head_dim; e++)
    JSW_EXPECT(o[e] == 0.0f, "bad sequence out[%lld] = %g", (long long)e, double(o[e]));
  for (int64_t h = 0; h < c.heads; h++) JSW_EXPECT(l[c.heads + h] == -INFINITY, "bad sequence lse %lld", (long long)h);
  Case good = c;
  good.batch = 1;
  good.kv_len = {9};
  Result want = reference(good, in);  // sequence 0's inputs come first in every tensor
  expect_rel_norm("good sequence out", std::vector<float>(o.begin(), o.begin() + c.heads * c.head_dim), want.out,
                  8e-3);

  Buffer cache = poisoned(dev, JSW_BF16, c.cache_elems());
  JSW_CHECK(jsw_kv_cache_append(dev, JSW_BF16, k.get(), v.get(), cache.get(), cache.get(), len.as<int32_t>(), 2, 1,
                                16, 2, 64));
  st = jsw_synchronize(dev);
  JSW_EXPECT(st == JSW_ERR_INVALID_ARGUMENT, "bad append kv_len reported, got %d", st);
  std::vector<float> cached = download(cache, JSW_BF16, c.cache_elems());
  for (int64_t e = 16 * 2 * 64; e < 2 * 16 * 2 * 64; e++)
    JSW_EXPECT(std::isnan(cached[e]), "bad sequence's cache written at %lld", (long long)e);
  for (int64_t e = 8 * 2 * 64; e < 9 * 2 * 64; e++)
    JSW_EXPECT(!std::isnan(cached[e]), "good sequence's slot 8 not written at %lld", (long long)e);
}
