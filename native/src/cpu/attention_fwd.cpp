// CPU flash-attention forward: the driver. Work items are (sequence, query head, block of kBlockQ queries),
// spread over OpenMP threads with a dynamic schedule (under a causal mask later blocks see more keys, so
// items differ in cost; the costliest are queued first). Each thread owns one O(tile) workspace.
#include <omp.h>

#include <algorithm>
#include <utility>
#include <vector>

#include "core/memory.h"
#include "cpu/attention_cpu.h"

namespace jsw {
namespace cpu {

void attention_fwd(int dtype, const AttentionShape& s, const void* q, const void* k, const void* v, void* out,
                   float* lse) {
  const attn::TileKernels& kern = attn::tile_kernels();
  const attn::Geometry g{s};
  std::vector<std::pair<int64_t, int64_t>> blocks;  // (sequence, first query)
  for (int64_t b = 0; b < s.batch; b++)
    for (int64_t q0 = 0; q0 < g.length(b); q0 += attn::kBlockQ) blocks.emplace_back(b, q0);
  std::stable_sort(blocks.begin(), blocks.end(), [](const auto& x, const auto& y) { return x.second > y.second; });
  const int64_t items = int64_t(blocks.size()) * s.heads;
  if (items == 0) return;

  const int threads = int(std::min<int64_t>(omp_get_max_threads(), items));
  const int64_t per_thread = attn::round_up(attn::fwd_workspace(s.head_dim, kern.vec), 16);
  Scratch ws(int64_t(threads) * per_thread * int64_t(sizeof(float)));
  auto item = kern.fwd[attn::dtype_slot(dtype)];
#pragma omp parallel num_threads(threads)
  {
    float* mine = ws.as<float>() + int64_t(omp_get_thread_num()) * per_thread;
#pragma omp for schedule(dynamic, 1)
    for (int64_t it = 0; it < items; it++) {
      const auto& blk = blocks[size_t(it / s.heads)];
      item(s, q, k, v, out, lse, blk.first, it % s.heads, blk.second, mine);
    }
  }
}

}  // namespace cpu
}  // namespace jsw
