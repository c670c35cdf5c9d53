// CPU flash-attention backward: the driver.
//
// Races on dQ/dK/dV are avoided by ownership, not atomics or per-thread copies of dQ. A work item is one
// sequence and one kv head with all the query heads of its group: its key blocks run in order inside the
// item, so the item alone writes dK/dV of that kv head (summed over the group in its workspace) and alone
// adds into the dQ rows of those query heads. That keeps all 5 tile GEMMs of FA2 (no second pass that
// recomputes S and dP for dQ) and needs no memory beyond the tile workspaces and, for 16-bit storage, an fp32
// dQ accumulator.
// When there are too few (sequence, kv head) items to keep every thread busy (MQA or GQA on a short batch),
// items become (sequence, query head) instead: dQ ownership is unchanged, but dK/dV of a kv head would then be
// written by several items, so each writes fp32 partials of its own query head and a final pass sums a group.
#include <omp.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "core/dtype.h"
#include "core/memory.h"
#include "cpu/attention_cpu.h"

namespace jsw {
namespace cpu {

namespace {

// delta[row] = sum_d dout[row, d] * out[row, d], the D_i of FA2, per (token, head) row.
template <class T>
void row_dots(const T* dout, const T* out, int64_t rows, int64_t dim, float* delta) {
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; r++) {
    const T* a = dout + r * dim;
    const T* o = out + r * dim;
    float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
    for (int64_t d = 0; d < dim; d++) acc += to_float(a[d]) * to_float(o[d]);
    delta[r] = acc;
  }
}

// dk[t, kvh, :] = sum over the group's query heads of part[t, h, :], likewise dv.
template <class T>
void sum_groups(const float* dk_part, const float* dv_part, int64_t tokens, int64_t heads, int64_t kv_heads,
                int64_t dim, T* dk, T* dv) {
  const int64_t group = heads / kv_heads;
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < tokens * kv_heads; r++) {
    const int64_t t = r / kv_heads, kvh = r % kv_heads;
    const float* pk = dk_part + (t * heads + kvh * group) * dim;
    const float* pv = dv_part + (t * heads + kvh * group) * dim;
    for (int64_t d = 0; d < dim; d++) {
      float sk = 0.0f, sv = 0.0f;
      for (int64_t j = 0; j < group; j++) {
        sk += pk[j * dim + d];
        sv += pv[j * dim + d];
      }
      dk[r * dim + d] = from_float<T>(sk);
      dv[r * dim + d] = from_float<T>(sv);
    }
  }
}

template <class T>
void store(const float* src, int64_t n, T* dst) {
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; i++) dst[i] = from_float<T>(src[i]);
}

}  // namespace

void attention_bwd(int dtype, const AttentionShape& s, const void* q, const void* k, const void* v, const void* out,
                   const void* dout, const float* lse, void* dq, void* dk, void* dv) {
  const attn::TileKernels& kern = attn::tile_kernels();
  const attn::Geometry g{s};
  const int64_t tokens = g.tokens(), H = s.heads, KH = s.kv_heads, D = s.head_dim, group = g.group();
  if (tokens == 0) return;

  Scratch delta(tokens * H * int64_t(sizeof(float)));
  JSW_DISPATCH_FLOAT(dtype, "jsw_attention_bwd",
                     row_dots(static_cast<const T*>(dout), static_cast<const T*>(out), tokens * H, D,
                              delta.as<float>()));

  // dQ accumulates in fp32: in dq itself for f32 storage.
  const bool dq_direct = dtype == JSW_F32;
  Scratch dq32(dq_direct ? 0 : tokens * H * D * int64_t(sizeof(float)));
  float* dq_acc = dq_direct ? static_cast<float*>(dq) : dq32.as<float>();
#pragma omp parallel for schedule(static)
  for (int64_t t = 0; t < tokens; t++) std::memset(dq_acc + t * H * D, 0, size_t(H * D) * sizeof(float));

  const int max_threads = omp_get_max_threads();
  const bool per_kv_head = group == 1 || s.batch * KH >= 2 * int64_t(max_threads);
  Scratch part(per_kv_head ? 0 : 2 * tokens * H * D * int64_t(sizeof(float)));
  float* dk_part = part.as<float>();
  float* dv_part = per_kv_head ? nullptr : dk_part + tokens * H * D;

  const int64_t heads_per_item = per_kv_head ? group : 1;
  const int64_t items_per_seq = H / heads_per_item;
  std::vector<int64_t> seqs;
  for (int64_t b = 0; b < s.batch; b++)
    if (g.length(b) > 0) seqs.push_back(b);
  const int64_t items = int64_t(seqs.size()) * items_per_seq;
  const int threads = int(std::max<int64_t>(1, std::min<int64_t>(max_threads, items)));
  const int64_t per_thread = attn::round_up(attn::bwd_workspace(D, kern.vec), 16);
  Scratch ws(int64_t(threads) * per_thread * int64_t(sizeof(float)));
  auto item = kern.bwd[attn::dtype_slot(dtype)];
  void* dk_dst = per_kv_head ? dk : static_cast<void*>(dk_part);
  void* dv_dst = per_kv_head ? dv : static_cast<void*>(dv_part);
#pragma omp parallel num_threads(threads)
  {
    float* mine = ws.as<float>() + int64_t(omp_get_thread_num()) * per_thread;
#pragma omp for schedule(dynamic, 1)
    for (int64_t it = 0; it < items; it++) {
      const int64_t b = seqs[size_t(it / items_per_seq)];
      const int64_t h0 = (it % items_per_seq) * heads_per_item;
      item(s, q, k, v, dout, lse, delta.as<float>(), dq_acc, dk_dst, dv_dst, per_kv_head, b, h0,
           h0 + heads_per_item, mine);
    }
  }

  JSW_DISPATCH_FLOAT(dtype, "jsw_attention_bwd", {
    if (!per_kv_head) sum_groups(dk_part, dv_part, tokens, H, KH, D, static_cast<T*>(dk), static_cast<T*>(dv));
    if (!dq_direct) store(dq_acc, tokens * H * D, static_cast<T*>(dq));
  });
}

}  // namespace cpu
}  // namespace jsw
