// CPU decode attention: the driver, and the KV-cache append.
//
// Work is cut into tiles of up to kRows rows of one (sequence, kv head) (see attention_decode_cpu.h). When the
// tiles are too few to occupy the threads (decoding one or a few sequences: a tile is the G query heads of a kv
// head) and their key ranges are long, each tile's keys are split into chunks of at least kMinSplitKeys,
// processed by different threads, and the partial results merged by log-sum-exp; otherwise a task is a whole
// tile and writes its output directly. Tasks run costliest first under a dynamic schedule (a prefill's later
// positions see more keys). Memory is O(tile) per thread plus the partials: a [q_len, capacity] score matrix
// never exists.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <utility>
#include <vector>

#include "core/dtype.h"
#include "core/memory.h"
#include "cpu/attention_decode_cpu.h"

namespace jsw {
namespace cpu {

namespace {

using decode::Geometry;
using decode::Partials;
using decode::Task;
using decode::Tile;

// A split below this many keys would cost more in merging and scheduling than it gains in parallelism.
constexpr int64_t kMinSplitKeys = 256;

struct Plan {
  std::vector<Tile> tiles;
  std::vector<Task> tasks;
  std::vector<int64_t> first_slot, slots;  // per tile: its partial-result slots (slots 0: written directly)
  int64_t total_slots = 0;
};

Plan plan(const DecodeShape& s, int threads) {
  const Geometry g{s};
  Plan p;
  const int64_t rows = g.rows();
  for (int64_t b = 0; b < s.batch; b++)
    for (int64_t kvh = 0; kvh < s.kv_heads; kvh++)
      for (int64_t row0 = 0; row0 < rows; row0 += decode::kRows)
        p.tiles.push_back({b, kvh, row0, std::min(decode::kRows, rows - row0)});
  const int64_t ntiles = int64_t(p.tiles.size());
  // Splits only when the tiles leave threads idle: then aim at about two tasks per thread.
  int64_t nsplit = 1;
  if (ntiles < 2 * int64_t(threads)) nsplit = (2 * int64_t(threads) + ntiles - 1) / ntiles;
  p.first_slot.assign(size_t(ntiles), 0);
  p.slots.assign(size_t(ntiles), 0);
  for (int64_t t = 0; t < ntiles; t++) {
    const Tile& tile = p.tiles[size_t(t)];
    int64_t lo, hi;
    g.keys_for(tile.b, tile.row0, tile.rows, &lo, &hi);
    const int64_t span = hi - lo;
    const int64_t n = std::min(nsplit, std::max<int64_t>(1, span / kMinSplitKeys));
    if (n <= 1) {
      p.tasks.push_back({t, lo, hi, -1});
      continue;
    }
    const int64_t chunk = decode::round_up((span + n - 1) / n, decode::kBlockK);
    p.first_slot[size_t(t)] = p.total_slots;
    for (int64_t k0 = lo; k0 < hi; k0 += chunk) {
      p.tasks.push_back({t, k0, std::min(hi, k0 + chunk), p.total_slots++});
      p.slots[size_t(t)]++;
    }
  }
  std::stable_sort(p.tasks.begin(), p.tasks.end(), [&](const Task& x, const Task& y) {
    return (x.k1 - x.k0) * p.tiles[size_t(x.tile)].rows > (y.k1 - y.k0) * p.tiles[size_t(y.tile)].rows;
  });
  return p;
}

// out / lse of the rows of tile t from its partial results: M = max m_s, L = sum l_s e^(m_s - M),
// out = sum o_s e^(m_s - M) / L, lse = M + log L.
template <class T>
void merge_row(const DecodeShape& s, const Plan& p, const Partials& parts, int64_t t, int64_t r, T* out, float* lse,
               float* acc) {
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  const Tile& tile = p.tiles[size_t(t)];
  const int64_t G = s.heads / s.kv_heads, D = s.head_dim, gr = tile.row0 + r;
  const int64_t row = (tile.b * s.q_len + gr / G) * s.heads + tile.kvh * G + gr % G;
  const int64_t first = p.first_slot[size_t(t)], n = p.slots[size_t(t)];
  float mx = kNegInf;
  for (int64_t k = first; k < first + n; k++) mx = std::max(mx, parts.m_of(k)[r]);
  T* dst = out + row * D;
  if (mx == kNegInf) {  // no split saw a visible key
    for (int64_t d = 0; d < D; d++) dst[d] = from_float<T>(0.0f);
    if (lse != nullptr) lse[row] = kNegInf;
    return;
  }
  std::fill(acc, acc + D, 0.0f);
  float sum = 0.0f;
  for (int64_t k = first; k < first + n; k++) {
    const float w = std::exp(parts.m_of(k)[r] - mx);  // 0 for a split that saw nothing (m = -inf)
    sum += w * parts.l_of(k)[r];
    const float* o = parts.o_of(k) + r * D;
#pragma omp simd
    for (int64_t d = 0; d < D; d++) acc[d] += w * o[d];
  }
  const float inv = 1.0f / sum;  // >= 1 / (number of splits): the split holding the max has l >= 1
  for (int64_t d = 0; d < D; d++) dst[d] = from_float<T>(acc[d] * inv);
  if (lse != nullptr) lse[row] = mx + std::log(sum);
}

// Merges every split tile, one row per iteration; each thread's row accumulator reuses its task workspace.
template <class T>
void merge_splits(const DecodeShape& s, const Plan& p, const Partials& parts, int threads, float* ws,
                  int64_t per_thread, T* out, float* lse) {
  std::vector<std::pair<int64_t, int64_t>> rows;  // (tile, row)
  for (int64_t t = 0; t < int64_t(p.tiles.size()); t++)
    if (p.slots[size_t(t)] > 0)
      for (int64_t r = 0; r < p.tiles[size_t(t)].rows; r++) rows.emplace_back(t, r);
  const int64_t nrows = int64_t(rows.size());
#pragma omp parallel num_threads(threads)
  {
    float* acc = ws + int64_t(omp_get_thread_num()) * per_thread;
#pragma omp for schedule(static)
    for (int64_t i = 0; i < nrows; i++)
      merge_row(s, p, parts, rows[size_t(i)].first, rows[size_t(i)].second, out, lse, acc);
  }
}

template <class T>
void kv_append(const DecodeShape& s, const T* k_new, const T* v_new, T* k_cache, T* v_cache) {
  const int64_t row = s.kv_heads * s.head_dim;  // one token's keys of every kv head: contiguous in both layouts
#pragma omp parallel for schedule(static)
  for (int64_t t = 0; t < s.batch * s.q_len; t++) {
    const int64_t b = t / s.q_len, i = t % s.q_len;
    const int64_t slot = int64_t(s.kv_len[b]) - s.q_len + i;
    std::memcpy(k_cache + (b * s.capacity + slot) * row, k_new + t * row, size_t(row) * sizeof(T));
    std::memcpy(v_cache + (b * s.capacity + slot) * row, v_new + t * row, size_t(row) * sizeof(T));
  }
}

}  // namespace

void attention_decode(int dtype, const DecodeShape& s, const void* q, const void* k_cache, const void* v_cache,
                      void* out, float* lse) {
  const decode::TaskKernels& kern = decode::task_kernels();
  const int max_threads = omp_get_max_threads();
  const Plan p = plan(s, max_threads);
  const int64_t ntasks = int64_t(p.tasks.size());
  if (ntasks == 0) return;

  const int threads = int(std::min<int64_t>(max_threads, ntasks));
  const int64_t per_thread = decode::round_up(decode::workspace_floats(s.head_dim, kern.vec), 16);
  const int64_t part_floats = p.total_slots * decode::kRows * (s.head_dim + 2);
  Scratch ws((int64_t(threads) * per_thread + part_floats) * int64_t(sizeof(float)));
  float* part_base = ws.as<float>() + int64_t(threads) * per_thread;
  const Partials parts{part_base, part_base + p.total_slots * decode::kRows * s.head_dim,
                       part_base + p.total_slots * decode::kRows * (s.head_dim + 1), s.head_dim};
  auto run = kern.run[dtype];  // JSW_F32 = 0, JSW_BF16 = 1, JSW_F16 = 2
#pragma omp parallel num_threads(threads)
  {
    float* mine = ws.as<float>() + int64_t(omp_get_thread_num()) * per_thread;
#pragma omp for schedule(dynamic, 1)
    for (int64_t it = 0; it < ntasks; it++) {
      const Task& task = p.tasks[size_t(it)];
      run(s, q, k_cache, v_cache, out, lse, p.tiles[size_t(task.tile)], task, parts, mine);
    }
  }
  if (p.total_slots == 0) return;
  JSW_DISPATCH_FLOAT(dtype, "jsw_attention_decode",
                     merge_splits(s, p, parts, threads, ws.as<float>(), per_thread, static_cast<T*>(out), lse));
}

void kv_cache_append(int dtype, const DecodeShape& s, const void* k_new, const void* v_new, void* k_cache,
                     void* v_cache) {
  JSW_DISPATCH_FLOAT(dtype, "jsw_kv_cache_append",
                     kv_append(s, static_cast<const T*>(k_new), static_cast<const T*>(v_new),
                               static_cast<T*>(k_cache), static_cast<T*>(v_cache)));
}

}  // namespace cpu
}  // namespace jsw
