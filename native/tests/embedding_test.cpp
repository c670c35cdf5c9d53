// Embedding: the CPU kernel against a double loop (repeated ids, accumulation into a non-zero dtable), the
// out-of-range id contract on both twins, and the CUDA twin against the CPU kernel.
#include <algorithm>
#include <tuple>

#include "test.h"

using namespace jsw_test;

namespace {

struct EmbOut {
  std::vector<float> out, dtable;
};

// dtable starts from dtable0 (it accumulates); the returned dtable is the value after the call.
EmbOut run(int device, int dtype, const std::vector<int32_t>& ids, const std::vector<float>& table,
           const std::vector<float>& dout, const std::vector<float>& dtable0, int64_t vocab, int64_t dim) {
  int64_t tokens = int64_t(ids.size());
  Buffer bids = upload_i32(device, ids), btable = upload(device, dtype, table), bdout = upload(device, dtype, dout);
  Buffer bout = poisoned(device, dtype, tokens * dim);
  Buffer bdt = upload(device, JSW_F32, dtable0);
  JSW_CHECK(jsw_embedding_fwd(device, dtype, bids.as<int32_t>(), tokens, btable.get(), vocab, dim, bout.get()));
  JSW_CHECK(jsw_embedding_bwd(device, dtype, bids.as<int32_t>(), tokens, bdout.get(), vocab, dim, bdt.as<float>()));
  JSW_CHECK(jsw_synchronize(device));
  return {download(bout, dtype, tokens * dim), download(bdt, JSW_F32, vocab * dim)};
}

// Ids drawn from a small range so that most of them repeat (the case the backward must sum).
std::vector<int32_t> ids_for(int64_t tokens, int64_t vocab, uint64_t seed) {
  std::vector<float> u = uniform(tokens, seed, 0.0f, float(vocab));
  std::vector<int32_t> ids(size_t(tokens), 0);
  for (int64_t t = 0; t < tokens; t++) ids[t] = std::min<int32_t>(int32_t(u[t]), int32_t(vocab - 1));
  if (tokens > 2) ids[tokens - 1] = ids[0];  // at least one repeat
  return ids;
}

}  // namespace

JSW_TEST(embedding_cpu_matches_double_reference) {
  for (auto [tokens, vocab, dim] : {std::tuple<int64_t, int64_t, int64_t>{1, 5, 64}, {37, 11, 80}, {300, 50, 13},
                                    {64, 1000, 4096}, {5, 3, 1}}) {
    auto ids = ids_for(tokens, vocab, 1);
    auto table = randn(vocab * dim, 2), dout = randn(tokens * dim, 3), dt0 = uniform(vocab * dim, 4, -1, 1);
    std::vector<double> want_dt(dt0.begin(), dt0.end());
    std::vector<float> want_out(size_t(tokens * dim));
    for (int64_t t = 0; t < tokens; t++)
      for (int64_t j = 0; j < dim; j++) {
        want_out[t * dim + j] = table[ids[t] * dim + j];
        want_dt[ids[t] * dim + j] += dout[t * dim + j];
      }
    EmbOut got = run(JSW_CPU, JSW_F32, ids, table, dout, dt0, vocab, dim);
    expect_close("out", got.out, want_out, 0.0f, 0.0f);  // a copy: exact
    // fp32 sums of at most `tokens` terms of magnitude ~1: relative error ~tokens * 2^-24 < 1e-5
    expect_close("dtable", got.dtable, std::vector<float>(want_dt.begin(), want_dt.end()), 1e-5f, 1e-5f);
  }
}

JSW_TEST(embedding_cpu_half_storage) {
  int64_t tokens = 19, vocab = 7, dim = 96;
  for (int dtype : {JSW_BF16, JSW_F16}) {
    auto ids = ids_for(tokens, vocab, 5);
    auto table = round_to(randn(vocab * dim, 6), dtype), dout = round_to(randn(tokens * dim, 7), dtype);
    std::vector<float> dt0(size_t(vocab * dim), 0.0f);
    EmbOut f32 = run(JSW_CPU, JSW_F32, ids, table, dout, dt0, vocab, dim);
    EmbOut half = run(JSW_CPU, dtype, ids, table, dout, dt0, vocab, dim);
    expect_close("out", half.out, f32.out, 0.0f, 0.0f);        // representable values copied: exact
    expect_close("dtable", half.dtable, f32.dtable, 0.0f, 0.0f);  // same fp32 sums in the same order
  }
}

JSW_TEST(embedding_cpu_rejects_out_of_range_ids_before_writing) {
  int64_t vocab = 10, dim = 8;
  for (int32_t bad : {-1, 10, INT32_MAX}) {
    std::vector<int32_t> ids = {1, 2, bad, 3};
    Buffer bids = upload_i32(JSW_CPU, ids), table = upload(JSW_CPU, JSW_F32, randn(vocab * dim, 8));
    Buffer out = upload(JSW_CPU, JSW_F32, std::vector<float>(size_t(4 * dim), 7.0f));
    Buffer dout = upload(JSW_CPU, JSW_F32, randn(4 * dim, 9));
    Buffer dt = upload(JSW_CPU, JSW_F32, std::vector<float>(size_t(vocab * dim), 3.0f));
    int st = jsw_embedding_fwd(JSW_CPU, JSW_F32, bids.as<int32_t>(), 4, table.get(), vocab, dim, out.get());
    JSW_EXPECT(st == JSW_ERR_INVALID_ARGUMENT, "fwd status %d", st);
    std::string msg = jsw_last_error();
    JSW_EXPECT(msg.find("ids[2] = " + std::to_string(bad)) != std::string::npos, "message: %s", msg.c_str());
    for (float v : download(out, JSW_F32, 4 * dim)) JSW_EXPECT(v == 7.0f, "out was written: %g", double(v));
    st = jsw_embedding_bwd(JSW_CPU, JSW_F32, bids.as<int32_t>(), 4, dout.get(), vocab, dim, dt.as<float>());
    JSW_EXPECT(st == JSW_ERR_INVALID_ARGUMENT, "bwd status %d", st);
    for (float v : download(dt, JSW_F32, vocab * dim)) JSW_EXPECT(v == 3.0f, "dtable was written: %g", double(v));
  }
}

JSW_TEST(embedding_rejects_bad_arguments) {
  Buffer ids(JSW_CPU, 16), table(JSW_CPU, 256), out(JSW_CPU, 256);
  JSW_CHECK(jsw_memset(JSW_CPU, ids.get(), 0, 16));
  auto status = [&](int device, int dtype, const int32_t* i, int64_t tokens, const void* tb, int64_t vocab,
                    int64_t dim, void* o) { return jsw_embedding_fwd(device, dtype, i, tokens, tb, vocab, dim, o); };
  JSW_EXPECT(status(JSW_CPU, JSW_F32, ids.as<int32_t>(), 4, table.get(), 4, 0, out.get()) == JSW_ERR_INVALID_ARGUMENT,
             "dim 0");
  JSW_EXPECT(status(JSW_CPU, JSW_F32, ids.as<int32_t>(), -1, table.get(), 4, 4, out.get()) == JSW_ERR_INVALID_ARGUMENT,
             "negative tokens");
  JSW_EXPECT(status(JSW_CPU, JSW_I32, ids.as<int32_t>(), 4, table.get(), 4, 4, out.get()) == JSW_ERR_INVALID_ARGUMENT,
             "int dtype");
  JSW_EXPECT(status(JSW_CPU, JSW_F32, ids.as<int32_t>(), 4, table.get(), int64_t(1) << 32, 4, out.get()) ==
                 JSW_ERR_INVALID_ARGUMENT, "vocab beyond int32");
  JSW_EXPECT(status(JSW_CPU, JSW_F32, nullptr, 4, table.get(), 4, 4, out.get()) == JSW_ERR_INVALID_ARGUMENT, "null ids");
  JSW_EXPECT(std::string(jsw_last_error()).find("ids is a null pointer") != std::string::npos, "message: %s",
             jsw_last_error());
  JSW_EXPECT(jsw_embedding_bwd(JSW_CPU, JSW_F32, ids.as<int32_t>(), 4, out.get(), 4, 4, nullptr) ==
                 JSW_ERR_INVALID_ARGUMENT, "null dtable");
  int st = status(jsw_cuda_device_count(), JSW_F32, ids.as<int32_t>(), 4, table.get(), 4, 4, out.get());
  JSW_EXPECT(st == JSW_ERR_NO_DEVICE, "missing CUDA device gives JSW_ERR_NO_DEVICE, got %d", st);
  // Zero tokens is a valid no-op, even with null buffers.
  JSW_CHECK(jsw_embedding_fwd(JSW_CPU, JSW_F32, nullptr, 0, nullptr, 4, 4, nullptr));
}

JSW_CUDA_TEST(embedding_cuda_matches_cpu) {
  for (int dtype : {JSW_F32, JSW_BF16, JSW_F16}) {
    // dim 13 / 7: rows that are not whole 16-byte words (the element-wise path); 64 / 4096: the uint4 path.
    for (auto [tokens, vocab, dim] : {std::tuple<int64_t, int64_t, int64_t>{1, 5, 64}, {37, 11, 13}, {700, 50, 4096},
                                      {5, 3, 7}, {257, 1000, 80}}) {
      auto ids = ids_for(tokens, vocab, 21);
      auto table = round_to(randn(vocab * dim, 22), dtype), dout = round_to(randn(tokens * dim, 23), dtype);
      auto dt0 = uniform(vocab * dim, 24, -1, 1);
      EmbOut cpu = run(JSW_CPU, JSW_F32, ids, table, dout, dt0, vocab, dim);
      EmbOut gpu = run(cuda_device(), dtype, ids, table, dout, dt0, vocab, dim);
      std::string tag = "dtype " + std::to_string(dtype) + " dim " + std::to_string(dim);
      expect_close(tag + " out", gpu.out, cpu.out, 0.0f, 0.0f);  // a copy: exact
      // atomicAdd order differs from the CPU token order: fp32 rounding of <= tokens terms
      expect_close(tag + " dtable", gpu.dtable, cpu.dtable, 1e-5f, 1e-5f);
    }
  }
}

JSW_CUDA_TEST(embedding_cuda_reports_out_of_range_ids) {
  cuda_only_behaviour("bad ids flagged by the kernel");
  int device = cuda_device();
  int64_t vocab = 10, dim = 24;
  std::vector<int32_t> ids = {1, -3, 9, 10};
  auto table = randn(vocab * dim, 31);
  Buffer bids = upload_i32(device, ids), bt = upload(device, JSW_F32, table);
  Buffer out = poisoned(device, JSW_F32, 4 * dim);
  JSW_CHECK(jsw_embedding_fwd(device, JSW_F32, bids.as<int32_t>(), 4, bt.get(), vocab, dim, out.get()));
  int st = jsw_synchronize(device);
  JSW_EXPECT(st == JSW_ERR_INVALID_ARGUMENT, "synchronize status %d", st);
  JSW_EXPECT(std::string(jsw_last_error()).find("embedding") != std::string::npos, "message: %s", jsw_last_error());
  auto got = download(out, JSW_F32, 4 * dim);
  for (int64_t j = 0; j < dim; j++) {
    JSW_EXPECT(got[0 * dim + j] == table[1 * dim + j], "row 0");
    JSW_EXPECT(got[1 * dim + j] == 0.0f, "bad row 1 must be zeros, got %g", double(got[dim + j]));
    JSW_EXPECT(got[2 * dim + j] == table[9 * dim + j], "row 2");
    JSW_EXPECT(got[3 * dim + j] == 0.0f, "bad row 3 must be zeros");
  }
  JSW_CHECK(jsw_synchronize(device));  // the flag was reported once and cleared

  Buffer dout = upload(device, JSW_F32, std::vector<float>(size_t(4 * dim), 1.0f));
  Buffer dt = zeros(device, JSW_F32, vocab * dim);
  JSW_CHECK(jsw_embedding_bwd(device, JSW_F32, bids.as<int32_t>(), 4, dout.get(), vocab, dim, dt.as<float>()));
  st = jsw_synchronize(device);
  JSW_EXPECT(st == JSW_ERR_INVALID_ARGUMENT, "backward: synchronize status %d", st);
  auto g = download(dt, JSW_F32, vocab * dim);
  for (int64_t v = 0; v < vocab; v++)
    for (int64_t j = 0; j < dim; j++)
      JSW_EXPECT(g[v * dim + j] == (v == 1 || v == 9 ? 1.0f : 0.0f), "dtable[%lld] = %g", (long long)v,
                 double(g[v * dim + j]));
}

// ---- jsw_gather_columns ----------------------------------------------------------------------------------------

namespace {
// n random column indices in [0, cols), repeats included (a gather need not be a permutation).
std::vector<int32_t> column_indices(int64_t cols, int64_t n, uint64_t seed) {
  std::vector<float> u = uniform(n, seed, 0.0f, 1.0f);
  std::vector<int32_t> idx(static_cast<size_t>(n));
  for (int64_t j = 0; j < n; j++) idx[size_t(j)] = int32_t(std::min<int64_t>(cols - 1, int64_t(u[size_t(j)] * cols)));
  return idx;
}
}  // namespace

JSW_TEST(gather_columns_cpu_matches_reference) {
  for (int dtype : {JSW_F32, JSW_BF16, JSW_F16})
    for (auto [rows, cols, n] : {std::tuple<int64_t, int64_t, int64_t>{1, 7, 7}, {5, 33, 20}, {300, 260, 260}}) {
      std::vector<float> x = round_to(randn(rows * cols, uint64_t(rows + cols)), dtype);
      std::vector<int32_t> idx = column_indices(cols, n, uint64_t(n));
      Buffer bx = upload(JSW_CPU, dtype, x), bi = upload_i32(JSW_CPU, idx), out = poisoned(JSW_CPU, dtype, rows * n);
      JSW_CHECK(jsw_gather_columns(JSW_CPU, dtype, bx.get(), rows, cols, bi.as<int32_t>(), n, out.get()));
      std::vector<float> got = download(out, dtype, rows * n);
      for (int64_t r = 0; r < rows; r++)
        for (int64_t j = 0; j < n; j++)
          JSW_EXPECT(got[size_t(r * n + j)] == x[size_t(r * cols + idx[size_t(j)])], "dtype %d [%lld, %lld]", dtype,
                     (long long)r, (long long)j);
    }
}

JSW_TEST(gather_columns_cpu_rejects_bad_indices_before_writing) {
  Buffer x = upload(JSW_CPU, JSW_F32, randn(2 * 4, 3)), out = upload(JSW_CPU, JSW_F32, std::vector<float>(6, 7.0f));
  for (int32_t bad : {-1, 4}) {
    Buffer idx = upload_i32(JSW_CPU, {0, bad, 1});
    JSW_EXPECT(jsw_gather_columns(JSW_CPU, JSW_F32, x.get(), 2, 4, idx.as<int32_t>(), 3, out.get()) ==
                   JSW_ERR_INVALID_ARGUMENT, "index %d", bad);
    JSW_EXPECT(std::string(jsw_last_error()).find("[1] = " + std::to_string(bad)) != std::string::npos, "message: %s",
               jsw_last_error());
    for (float v : download(out, JSW_F32, 6)) JSW_EXPECT(v == 7.0f, "out was written: %g", double(v));
  }
  Buffer idx = upload_i32(JSW_CPU, {0, 1, 2});
  JSW_EXPECT(jsw_gather_columns(JSW_CPU, JSW_I32, x.get(), 2, 4, idx.as<int32_t>(), 3, out.get()) ==
                 JSW_ERR_INVALID_ARGUMENT, "int dtype");
  JSW_EXPECT(jsw_gather_columns(JSW_CPU, JSW_F32, x.get(), 2, 0, idx.as<int32_t>(), 3, out.get()) ==
                 JSW_ERR_INVALID_ARGUMENT, "no columns");
  JSW_EXPECT(jsw_gather_columns(JSW_CPU, JSW_F32, nullptr, 2, 4, idx.as<int32_t>(), 3, out.get()) ==
                 JSW_ERR_INVALID_ARGUMENT, "null x");
}

JSW_CUDA_TEST(gather_columns_cuda_matches_cpu) {
  const int device = cuda_device();
  for (int dtype : {JSW_F32, JSW_BF16}) {
    const int64_t rows = 37, cols = 300, n = 280;
    std::vector<float> x = round_to(randn(rows * cols, 5), dtype);
    std::vector<int32_t> idx = column_indices(cols, n, 6);
    Buffer cx = upload(JSW_CPU, dtype, x), ci = upload_i32(JSW_CPU, idx), cout = poisoned(JSW_CPU, dtype, rows * n);
    Buffer gx = upload(device, dtype, x), gi = upload_i32(device, idx), gout = poisoned(device, dtype, rows * n);
    JSW_CHECK(jsw_gather_columns(JSW_CPU, dtype, cx.get(), rows, cols, ci.as<int32_t>(), n, cout.get()));
    JSW_CHECK(jsw_gather_columns(device, dtype, gx.get(), rows, cols, gi.as<int32_t>(), n, gout.get()));
    JSW_CHECK(jsw_synchronize(device));
    std::vector<float> want = download(cout, dtype, rows * n), got = download(gout, dtype, rows * n);
    for (size_t e = 0; e < want.size(); e++) JSW_EXPECT(got[e] == want[e], "dtype %d element %zu", dtype, e);
  }
  if (cuda_as_cpu) return;  // the CPU refuses a bad index before writing; the kernel flags it (checked below)
  Buffer x = upload(device, JSW_F32, {1, 2, 3, 4}), idx = upload_i32(device, {3, 9}), out = poisoned(device, JSW_F32, 2);
  JSW_CHECK(jsw_gather_columns(device, JSW_F32, x.get(), 1, 4, idx.as<int32_t>(), 2, out.get()));
  JSW_EXPECT(jsw_synchronize(device) == JSW_ERR_INVALID_ARGUMENT, "a bad device index is reported");
  JSW_EXPECT(std::string(jsw_last_error()).find("jsw_gather_columns") != std::string::npos, "message: %s",
             jsw_last_error());
  std::vector<float> got = download(out, JSW_F32, 2);
  JSW_EXPECT(got[0] == 4.0f && got[1] == 0.0f, "got %g %g", double(got[0]), double(got[1]));
}
