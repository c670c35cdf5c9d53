// KV-cache decode attention on CUDA, the twin of native/src/cpu/attention_decode.cpp: flash-decoding.
//
// The queries of one (sequence, kv head) are G = heads / kv_heads heads x q_len positions, "rows" numbered
// position-major as on the CPU. A CTA takes a block of kRows rows (all the query heads of the kv head when
// decoding) and one split of their keys, so every K/V row it reads serves all its rows: decoding reads each cache
// element once per kv head. When the (sequence, kv head, row block) items are too few to fill the GPU, the keys
// are split over several CTAs, each writing a partial (out, lse) that decode_combine_kernel merges by
// log-sum-exp. A long prefill has many row blocks and needs no split; it re-reads K/V once per row block (through
// L2): a SIMT kernel, correct for any q_len, tuned for decoding.
//
// Inside a CTA, `lanes` consecutive threads (a power of two, lanes * kEl >= head_dim) share one key: each takes
// kEl elements of its K and V rows as 16-byte vectors (interleaved, so that each load instruction reads contiguous
// runs) and holds the same kEl elements of every row's query in registers. A lane group walks its keys kUnroll at
// a time: scores by a butterfly sum over the group, FA2's online softmax in log2 units (running max m, sum l,
// rescaled accumulator), and P V into the lane's kEl output columns. At the end the groups' (m, l, acc) are
// merged, within a warp by shuffles and across warps through shared memory, in a fixed order (deterministic).
//
// K and V reach the lanes one of two ways. Staged (rows of whole 16-byte vectors, 16-byte aligned): the CTA
// copies each step's keys into shared memory by cp.async, kStages - 1 steps ahead of the one it computes, so
// 48 KB a CTA are in flight while it computes. Otherwise (and with JSWIFT_DECODE_LOADS=registers) each lane loads
// its vectors for the step into registers and waits for them: H200 run 2 measured that at 0.42x of SDPA (1.5
// TB/s), with the q / acc registers allowing 2 CTAs an SM, i.e. 32 KB in flight an SM. Both compute the same
// values in the same order, bit for bit.
#include <algorithm>
#include <type_traits>

#include "attention_common.cuh"
#include "attention_tc.cuh"
#include "common.cuh"
#include "kernels/attention_decode.h"

namespace jsw {
namespace cuda {

namespace {

constexpr int kThreads = 128;
constexpr int kWarps = kThreads / 32;
constexpr int kUnroll = 2;     // keys per lane group per step
constexpr int kStages = 4;     // staged path: shared-memory buffers of one step's K and V each
constexpr int kMaxDim = 256;   // head_dim limit of the C ABI
constexpr int kMaxSplits = 64;
constexpr int64_t kMinSplitKeys = 128;  // a split shorter than this costs more to merge than it saves
constexpr float kLog2e = 1.4426950408889634f;
constexpr float kLn2 = 0.6931471805599453f;

struct DecodeParams {
  const void* q;
  const void* k;
  const void* v;
  void* out;
  float* lse;       // natural log; may be null
  float* part_o;    // [items][nsplit][kRows][head_dim] normalised partial outputs (nsplit > 1)
  float* part_lse;  // [items][nsplit][kRows], log2 units
  const int32_t* kv_len;
  const int32_t* key_mask;
  int64_t capacity, window;
  int batch, q_len, heads, kv_heads, head_dim, group;
  int rows;        // q_len * group rows per (sequence, kv head)
  int row_blocks;  // ceil(rows / kRows)
  int nsplit;
  int lanes;       // threads per key
  float scale_log2;
  bool vec;  // K/V rows start 16-byte aligned and head_dim fills whole 16-byte vectors
  int* error_flag;
};

// 16 bytes of storage values starting at ptr, of which `valid` (<= 0: none) are inside the row; the others read
// as 0. With vec, a vector is wholly inside or outside (head_dim is a multiple of it) and is one 16-byte load.
template <class T>
__device__ __forceinline__ uint4 load16(const T* ptr, int valid, bool vec) {
  if (vec) return valid > 0 ? __ldg(reinterpret_cast<const uint4*>(ptr)) : make_uint4(0u, 0u, 0u, 0u);
  using Bits = typename std::conditional<sizeof(T) == 4, uint32_t, uint16_t>::type;
  constexpr int kE = 16 / int(sizeof(T));
  const Bits* src = reinterpret_cast<const Bits*>(ptr);
  Bits tmp[kE];
#pragma unroll
  for (int e = 0; e < kE; e++) tmp[e] = e < valid ? src[e] : Bits(0);
  uint4 u;
  memcpy(&u, tmp, sizeof u);
  return u;
}

// The 16 / sizeof(T) values of a 16-byte vector as floats.
__device__ __forceinline__ void unpack(const uint4& raw, float* out, float) {
  out[0] = __uint_as_float(raw.x);
  out[1] = __uint_as_float(raw.y);
  out[2] = __uint_as_float(raw.z);
  out[3] = __uint_as_float(raw.w);
}
__device__ __forceinline__ void unpack(const uint4& raw, float* out, __nv_bfloat16) {
  const __nv_bfloat162* h = reinterpret_cast<const __nv_bfloat162*>(&raw);
#pragma unroll
  for (int i = 0; i < 4; i++) {
    const float2 f = __bfloat1622float2(h[i]);
    out[2 * i] = f.x;
    out[2 * i + 1] = f.y;
  }
}
__device__ __forceinline__ void unpack(const uint4& raw, float* out, __half) {
  const __half2* h = reinterpret_cast<const __half2*>(&raw);
#pragma unroll
  for (int i = 0; i < 4; i++) {
    const float2 f = __half22float2(h[i]);
    out[2 * i] = f.x;
    out[2 * i + 1] = f.y;
  }
}

// Index of the query row (position, head) that row `gr` of (sequence b, kv head kvh) is, in [batch, q_len, heads].
__device__ __forceinline__ int64_t query_row(const DecodeParams& p, int b, int kvh, int gr) {
  return (int64_t(b) * p.q_len + gr / p.group) * p.heads + int64_t(kvh) * p.group + gr % p.group;
}

// 16-byte vectors of K (and as many of V) in one staged step: step keys of lanes * kVecs vectors each, where
// step = (kThreads / lanes) * kUnroll, whatever lanes is.
template <class T, int kEl>
constexpr int stage_vecs() {
  return kThreads * kUnroll * (kEl / (16 / int(sizeof(T))));
}

template <class T, int kRows, int kEl, bool kStaged>
__global__ void __launch_bounds__(kThreads) decode_kernel(DecodeParams p) {
  constexpr int kE = 16 / int(sizeof(T));  // elements per 16-byte vector
  constexpr int kVecs = kEl / kE;          // vectors per lane and key row
  constexpr int kStageVecs = stage_vecs<T, kEl>();
  static_assert(kEl % kE == 0, "a lane holds whole vectors");
  extern __shared__ __align__(16) uint4 staged[];  // kStaged: [kStages][K, V][step keys][lanes * kVecs]
  __shared__ float warp_m[kWarps][kRows], warp_l[kWarps][kRows], row_m[kRows], row_l[kRows];
  __shared__ float o_s[kRows][kMaxDim];

  const int split = int(blockIdx.x % unsigned(p.nsplit));
  const int item = int(blockIdx.x / unsigned(p.nsplit));
  const int rb = item % p.row_blocks, bk = item / p.row_blocks;
  const int kvh = bk % p.kv_heads, b = bk / p.kv_heads;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int sub = threadIdx.x & (p.lanes - 1);  // this thread's place in its key's lane group
  const int grp = threadIdx.x / p.lanes, ngroups = kThreads / p.lanes;
  const int row0 = rb * kRows, nrows = min(kRows, p.rows - row0);
  const int D = p.head_dim;
  // The lane's vector c covers columns [col(c), col(c) + kE): the lanes of a key read its row in contiguous
  // 16 * lanes-byte runs, one per c.
  auto col = [&](int c) { return (c * p.lanes + sub) * kE; };

  // A bad length (checked here: the host cannot read device memory without a synchronisation) raises the flag
  // and gives the sequence no keys, hence out = 0 and lse = -inf.
  const int len = p.kv_len[b];
  const bool ok = len >= p.q_len && len <= p.capacity;
  if (!ok && threadIdx.x == 0) atomicOr(p.error_flag, kErrKvLen);
  const int p0 = len - p.q_len;  // cache position of the first new query
  int64_t lo = 0, hi = 0;        // keys some row of the block may see
  if (ok) {
    const int first = p0 + row0 / p.group, last = p0 + (row0 + nrows - 1) / p.group;
    lo = p.window > 0 ? max(int64_t(0), int64_t(first) - p.window + 1) : 0;
    hi = last + 1;
  }
  const int64_t per = (hi - lo + p.nsplit - 1) / p.nsplit;
  const int s0 = int(min(hi, lo + split * per)), s1 = int(min(hi, int64_t(s0) + per));

  const T* qp = static_cast<const T*>(p.q);
  float q[kRows][kEl];
#pragma unroll
  for (int r = 0; r < kRows; r++) {
    const T* qrow = r < nrows ? qp + query_row(p, b, kvh, row0 + r) * D : nullptr;
#pragma unroll
    for (int e = 0; e < kEl; e++) {
      const int d = col(e / kE) + e % kE;
      q[r][e] = qrow != nullptr && d < D ? to_f(qrow[d]) * p.scale_log2 : 0.0f;
    }
  }
  int pos[kRows];  // each row's cache position
#pragma unroll
  for (int r = 0; r < kRows; r++) pos[r] = p0 + (row0 + r) / p.group;

  float m[kRows], l[kRows], acc[kRows][kEl];
#pragma unroll
  for (int r = 0; r < kRows; r++) {
    m[r] = -INFINITY;
    l[r] = 0.0f;
#pragma unroll
    for (int e = 0; e < kEl; e++) acc[r][e] = 0.0f;
  }

  const int64_t row_ld = int64_t(p.kv_heads) * D;  // cache rows of one kv head are kv_heads * head_dim apart
  const int64_t head0 = (int64_t(b) * p.capacity * p.kv_heads + kvh) * D;
  const T* kbase = static_cast<const T*>(p.k) + head0;
  const T* vbase = static_cast<const T*>(p.v) + head0;
  const int32_t* mask = p.key_mask != nullptr ? p.key_mask + int64_t(b) * p.capacity : nullptr;
  const int step = ngroups * kUnroll;
  const int iters = (s1 - s0 + step - 1) / step;  // the same for every thread: the shuffles below stay converged
  const int row_vecs = p.lanes * kVecs;            // staged: the vectors of a key row (whole ones past D are 0)

  // Staged: step t's keys [s0 + t step, + step) into buffer t % kStages, vectors past s1 or D as zeros (p.vec:
  // a vector is wholly inside or outside the row); one commit group per step, empty past the last.
  auto stage = [&](int t) {
    if (t < iters) {
      uint4* kt = staged + (t % kStages) * 2 * kStageVecs;
      const int j0 = s0 + t * step;
      for (int i = threadIdx.x; i < kStageVecs; i += kThreads) {
        const int u = i / row_vecs, c = i - u * row_vecs;
        const bool in = j0 + u < s1 && c * kE < D;
        const int64_t at = in ? int64_t(j0 + u) * row_ld + c * kE : 0;
        attn::cp_async16(smem_addr(kt + i), kbase + at, in ? 16 : 0);
        attn::cp_async16(smem_addr(kt + kStageVecs + i), vbase + at, in ? 16 : 0);
      }
    }
    attn::cp_async_commit();
  };
  if constexpr (kStaged) {
#pragma unroll
    for (int t = 0; t < kStages - 1; t++) stage(t);
  }

  for (int it = 0; it < iters; it++) {
    const int jb = s0 + it * step + grp * kUnroll;
    uint4 kr[kUnroll][kVecs], vr[kUnroll][kVecs];  // the register path's vectors
    const uint4* kt = nullptr;                      // the staged path's step buffer: K, then V
    if constexpr (kStaged) {
      attn::cp_async_wait<kStages - 2>();  // this thread's copies of step it have landed...
      __syncthreads();                     // ...and everyone's; everyone is also done with step it - 1's buffer
      stage(it + kStages - 1);             // which the copies of step it + kStages - 1 now refill
      kt = staged + (it % kStages) * 2 * kStageVecs;
    } else {
#pragma unroll
      for (int u = 0; u < kUnroll; u++) {
        const bool in = jb + u < s1;
#pragma unroll
        for (int c = 0; c < kVecs; c++) {
          const int valid = in ? D - col(c) : 0;
          kr[u][c] = load16(kbase + (jb + u) * row_ld + col(c), valid, p.vec);
          vr[u][c] = load16(vbase + (jb + u) * row_ld + col(c), valid, p.vec);
        }
      }
    }

    // Vector c of key u of this lane (columns col(c) ..): from the step buffer (read when used, so that the
    // staged path holds no K / V registers across the step) or the registers.
    auto vec = [&](int u, int c, bool v) -> uint4 {
      if constexpr (kStaged)
        return kt[(v ? kStageVecs : 0) + (grp * kUnroll + u) * row_vecs + c * p.lanes + sub];
      else
        return v ? vr[u][c] : kr[u][c];
    };
    float s[kUnroll][kRows];
#pragma unroll
    for (int u = 0; u < kUnroll; u++) {
      float kf[kEl];
#pragma unroll
      for (int c = 0; c < kVecs; c++) unpack(vec(u, c, false), kf + c * kE, T());
#pragma unroll
      for (int r = 0; r < kRows; r++) {
        float dot = 0.0f;
#pragma unroll
        for (int e = 0; e < kEl; e++) dot += q[r][e] * kf[e];
        s[u][r] = dot;
      }
    }
    for (int o = p.lanes >> 1; o > 0; o >>= 1) {
#pragma unroll
      for (int u = 0; u < kUnroll; u++)
#pragma unroll
        for (int r = 0; r < kRows; r++) s[u][r] += __shfl_xor_sync(0xffffffffu, s[u][r], o);
    }

    // Visibility: inside the split, not padding, causal (j <= position) and inside the window.
#pragma unroll
    for (int u = 0; u < kUnroll; u++) {
      const int j = jb + u;
      const bool usable = j < s1 && (mask == nullptr || mask[j] != 0);
#pragma unroll
      for (int r = 0; r < kRows; r++) {
        const bool vis = usable && r < nrows && j <= pos[r] && (p.window <= 0 || int64_t(pos[r]) - j < p.window);
        if (!vis) s[u][r] = -INFINITY;
      }
    }

    // Online softmax; the exponent offset stays 0 while a row has seen no key, so exp2(-inf - 0) = 0.
    float pr[kUnroll][kRows];
#pragma unroll
    for (int r = 0; r < kRows; r++) {
      float mx = s[0][r];
#pragma unroll
      for (int u = 1; u < kUnroll; u++) mx = fmaxf(mx, s[u][r]);
      const float mnew = fmaxf(m[r], mx);
      const float off = mnew == -INFINITY ? 0.0f : mnew;
      const float alpha = exp2f(m[r] - off);
      const bool rescale = alpha != 1.0f && m[r] != -INFINITY;  // l and acc are still 0 while m is -inf
      m[r] = mnew;
      if (rescale) {
        l[r] *= alpha;
#pragma unroll
        for (int e = 0; e < kEl; e++) acc[r][e] *= alpha;
      }
#pragma unroll
      for (int u = 0; u < kUnroll; u++) {
        pr[u][r] = exp2f(s[u][r] - off);
        l[r] += pr[u][r];
      }
    }
#pragma unroll
    for (int u = 0; u < kUnroll; u++) {
      float vf[kEl];
#pragma unroll
      for (int c = 0; c < kVecs; c++) unpack(vec(u, c, true), vf + c * kE, T());
#pragma unroll
      for (int r = 0; r < kRows; r++)
#pragma unroll
        for (int e = 0; e < kEl; e++) acc[r][e] += pr[u][r] * vf[e];
    }
  }

  // Merge the lane groups of each warp (lanes l, l + lanes, ... hold the same columns of different keys).
#pragma unroll
  for (int r = 0; r < kRows; r++) {
    float mw = m[r];
    for (int o = p.lanes; o < 32; o <<= 1) mw = fmaxf(mw, __shfl_xor_sync(0xffffffffu, mw, o));
    const float f = exp2f(m[r] - (mw == -INFINITY ? 0.0f : mw));
    float lw = l[r] * f;
    for (int o = p.lanes; o < 32; o <<= 1) lw += __shfl_xor_sync(0xffffffffu, lw, o);
#pragma unroll
    for (int e = 0; e < kEl; e++) {
      float a = acc[r][e] * f;
      for (int o = p.lanes; o < 32; o <<= 1) a += __shfl_xor_sync(0xffffffffu, a, o);
      acc[r][e] = a;
    }
    m[r] = mw;
    l[r] = lw;
  }
  // ... then the warps, through shared memory, in warp order.
  if (lane == 0) {
#pragma unroll
    for (int r = 0; r < kRows; r++) {
      warp_m[warp][r] = m[r];
      warp_l[warp][r] = l[r];
    }
  }
  __syncthreads();
  if (threadIdx.x < kRows) {
    const int r = threadIdx.x;
    float mx = warp_m[0][r];
    for (int w = 1; w < kWarps; w++) mx = fmaxf(mx, warp_m[w][r]);
    const float off = mx == -INFINITY ? 0.0f : mx;
    float sum = 0.0f;
    for (int w = 0; w < kWarps; w++) sum += warp_l[w][r] * exp2f(warp_m[w][r] - off);
    row_m[r] = mx;
    row_l[r] = sum;
  }
  __syncthreads();
  for (int w = 0; w < kWarps; w++) {
    if (warp == w && lane < p.lanes) {
#pragma unroll
      for (int r = 0; r < kRows; r++) {
        const float f = exp2f(m[r] - (row_m[r] == -INFINITY ? 0.0f : row_m[r]));
#pragma unroll
        for (int e = 0; e < kEl; e++) {
          float& dst = o_s[r][col(e / kE) + e % kE];  // < lanes * kEl <= kMaxDim
          dst = (w == 0 ? 0.0f : dst) + acc[r][e] * f;
        }
      }
    }
    __syncthreads();
  }

  // out = o / l, lse = (m + log2 l) ln 2; a split writes its normalised partial and lse in log2 units instead.
  for (int idx = threadIdx.x; idx < nrows * D; idx += kThreads) {
    const int r = idx / D, d = idx - r * D;
    const float L = row_l[r];
    const float o = L > 0.0f ? o_s[r][d] / L : 0.0f;
    if (p.nsplit == 1) {
      const int64_t row = query_row(p, b, kvh, row0 + r);
      static_cast<T*>(p.out)[row * D + d] = from_f<T>(o);
      if (d == 0 && p.lse != nullptr) p.lse[row] = L > 0.0f ? (row_m[r] + log2f(L)) * kLn2 : -INFINITY;
    } else {
      const int64_t slot = (int64_t(item) * p.nsplit + split) * kRows + r;
      p.part_o[slot * D + d] = o;
      if (d == 0) p.part_lse[slot] = L > 0.0f ? row_m[r] + log2f(L) : -INFINITY;
    }
  }
}

// One warp per query row: out = sum_s 2^(lse_s - M) o_s / sum_s 2^(lse_s - M), M = max_s lse_s.
template <class T, int kRows>
__global__ void __launch_bounds__(kThreads) decode_combine_kernel(DecodeParams p) {
  const int64_t row = int64_t(blockIdx.x) * kWarps + (threadIdx.x >> 5);
  const int64_t rows = int64_t(p.batch) * p.q_len * p.heads;
  if (row >= rows) return;  // uniform over the warp
  const int lane = threadIdx.x & 31;
  const int h = int(row % p.heads);
  const int64_t t = row / p.heads;
  const int b = int(t / p.q_len), i = int(t % p.q_len);
  const int kvh = h / p.group, gr = i * p.group + h % p.group;
  const int item = (b * p.kv_heads + kvh) * p.row_blocks + gr / kRows;
  const int64_t base = int64_t(item) * p.nsplit * kRows + gr % kRows;  // split s at base + s * kRows

  float mx = -INFINITY;
  for (int s = lane; s < p.nsplit; s += 32) mx = fmaxf(mx, p.part_lse[base + int64_t(s) * kRows]);
  mx = warp_max(mx);
  T* out = static_cast<T*>(p.out) + row * p.head_dim;
  if (mx == -INFINITY) {  // no split saw a visible key
    for (int d = lane; d < p.head_dim; d += 32) out[d] = from_f<T>(0.0f);
    if (lane == 0 && p.lse != nullptr) p.lse[row] = -INFINITY;
    return;
  }
  float sum = 0.0f;
  for (int s = lane; s < p.nsplit; s += 32) sum += exp2f(p.part_lse[base + int64_t(s) * kRows] - mx);
  sum = warp_sum(sum);
  const float inv = 1.0f / sum;  // >= 1 / nsplit: the split holding the max weighs 1
  for (int d = lane; d < p.head_dim; d += 32) {
    float o = 0.0f;
    for (int s = 0; s < p.nsplit; s++) {
      const int64_t slot = base + int64_t(s) * kRows;
      o += exp2f(p.part_lse[slot] - mx) * p.part_o[slot * p.head_dim + d];
    }
    out[d] = from_f<T>(o * inv);
  }
  if (lane == 0 && p.lse != nullptr) p.lse[row] = (mx + log2f(sum)) * kLn2;
}

template <class T>
__global__ void __launch_bounds__(kThreads) kv_append_kernel(const T* __restrict__ k_new, const T* __restrict__ v_new,
                                                             T* __restrict__ k_cache, T* __restrict__ v_cache,
                                                             const int32_t* __restrict__ kv_len, int q_len,
                                                             int64_t capacity, int64_t row, bool vec, int* flag) {
  const int64_t t = blockIdx.x;  // token (b, i)
  const int64_t b = t / q_len, i = t % q_len;
  const int len = kv_len[b];
  if (len < q_len || len > capacity) {
    if (threadIdx.x == 0 && i == 0) atomicOr(flag, kErrKvLen);
    return;
  }
  const int64_t dst = (b * capacity + len - q_len + i) * row, src = t * row;
  if (vec) {  // rows are whole 16-byte vectors
    const int64_t n = row * int64_t(sizeof(T)) / 16;
    for (int64_t c = threadIdx.x; c < n; c += blockDim.x) {
      reinterpret_cast<uint4*>(k_cache + dst)[c] = reinterpret_cast<const uint4*>(k_new + src)[c];
      reinterpret_cast<uint4*>(v_cache + dst)[c] = reinterpret_cast<const uint4*>(v_new + src)[c];
    }
  } else {
    for (int64_t c = threadIdx.x; c < row; c += blockDim.x) {
      k_cache[dst + c] = k_new[src + c];
      v_cache[dst + c] = v_new[src + c];
    }
  }
}

bool aligned16(const void* ptr) { return reinterpret_cast<uintptr_t>(ptr) % 16 == 0; }
int64_t element_size(int dtype) { return dtype == JSW_F32 ? 4 : 2; }

template <class T, int kRows, int kEl>
void launch_decode(int device, DecodeParams p, cudaStream_t stream) {
  const char* op = "jsw_attention_decode";
  int lanes = 1;
  while (lanes * kEl < p.head_dim) lanes <<= 1;  // <= 32: head_dim <= 256 and kEl >= 8
  p.lanes = lanes;
  p.row_blocks = (p.rows + kRows - 1) / kRows;
  const int64_t items = int64_t(p.batch) * p.kv_heads * p.row_blocks;
  require(items <= INT32_MAX / kMaxSplits, op, "batch * kv_heads * row blocks (%lld) is too large",
          (long long)items);
  // Split the keys only when the items leave SMs idle (about four CTAs per SM are resident), and never below
  // kMinSplitKeys keys per split of the longest possible key range (the host does not know kv_len).
  int64_t span = p.capacity;
  if (p.window > 0 && p.window < p.capacity) span = std::min<int64_t>(span, p.window + p.q_len - 1);
  const int64_t want = (4 * int64_t(sm_count(device)) + items - 1) / items;
  p.nsplit = int(std::max<int64_t>(1, std::min({want, int64_t(kMaxSplits), span / kMinSplitKeys})));
  Scratch parts(device, p.nsplit > 1 ? items * p.nsplit * kRows * (p.head_dim + 1) * int64_t(sizeof(float)) : 0);
  p.part_o = parts.as<float>();
  p.part_lse = p.nsplit > 1 ? p.part_o + items * p.nsplit * kRows * p.head_dim : nullptr;
  if (p.vec && !env_is("JSWIFT_DECODE_LOADS", "registers")) {
    const size_t smem = size_t(kStages) * 2 * stage_vecs<T, kEl>() * sizeof(uint4);
    attn::allow_smem(decode_kernel<T, kRows, kEl, true>, smem);
    decode_kernel<T, kRows, kEl, true><<<unsigned(items * p.nsplit), kThreads, smem, stream>>>(p);
  } else {
    decode_kernel<T, kRows, kEl, false><<<unsigned(items * p.nsplit), kThreads, 0, stream>>>(p);
  }
  check_launch("decode_kernel");
  if (p.nsplit > 1) {
    const int64_t rows = int64_t(p.batch) * p.q_len * p.heads;
    require((rows + kWarps - 1) / kWarps <= INT32_MAX, op, "batch * q_len * heads is too large");
    decode_combine_kernel<T, kRows><<<unsigned((rows + kWarps - 1) / kWarps), kThreads, 0, stream>>>(p);
    check_launch("decode_combine_kernel");
  }
}

}  // namespace

namespace {

// Chunks of at least this many queries a sequence run the flash kernel on tensor cores over the cache.
constexpr int64_t kChunkQueries = 16;

// A chunk of queries (a prompt continued over a filled cache, a batch of speculative tokens) as the flash forward
// kernel on tensor cores reading the cache's rows (attention_fwd_tc.cu, cache mode): the decode kernel, built for a
// few query rows a kv head, ran a 128-query chunk over 2048 keys at 10 TFLOP/s (H200 run 2), the flash kernel
// ~300. bf16 / f16 with 16-byte rows only; JSWIFT_PREFILL_TC=0 keeps the decode kernel.
bool chunk_on_tensor_cores(int device, int dtype, const DecodeShape& s, const void* q, const void* k_cache,
                           const void* v_cache, void* out, float* lse) {
  if (s.q_len < kChunkQueries || (dtype != JSW_BF16 && dtype != JSW_F16) || s.head_dim % 8 != 0 ||
      !(aligned16(q) && aligned16(k_cache) && aligned16(v_cache) && aligned16(out)) ||
      env_is("JSWIFT_PREFILL_TC", "0"))
    return false;
  if ((s.q_len + 63) / 64 > 65535) return false;
  const AttentionShape shape{s.batch, s.capacity, s.heads, s.kv_heads, s.head_dim, nullptr, s.key_mask, true,
                             s.window, s.scale};
  attn::Params p = attn::make_params(shape, error_flag(device));  // seq_len = the capacity: a cache's row count
  p.q = q;
  p.k = k_cache;
  p.v = v_cache;
  p.out_w = out;
  p.lse_w = lse;
  p.vec_loads = true;
  p.kv_len = s.kv_len;
  p.q_len = int(s.q_len);
  attn::fwd_tensor_cores_cached(dtype, p, cuda::stream(device));
  return true;
}

}  // namespace

void attention_decode(int device, int dtype, const DecodeShape& s, const void* q, const void* k_cache,
                      const void* v_cache, void* out, float* lse) {
  const char* op = "jsw_attention_decode";
  require(s.batch * s.kv_heads <= INT32_MAX && s.q_len * s.heads <= INT32_MAX, op,
          "batch * kv_heads and q_len * heads must be below 2^31");
  if (chunk_on_tensor_cores(device, dtype, s, q, k_cache, v_cache, out, lse)) return;
  cudaStream_t stream = cuda::stream(device);
  DecodeParams p{};
  p.q = q;
  p.k = k_cache;
  p.v = v_cache;
  p.out = out;
  p.lse = lse;
  p.kv_len = s.kv_len;
  p.key_mask = s.key_mask;
  p.capacity = s.capacity;
  p.window = s.window;
  p.batch = int(s.batch);
  p.q_len = int(s.q_len);
  p.heads = int(s.heads);
  p.kv_heads = int(s.kv_heads);
  p.head_dim = int(s.head_dim);
  p.group = int(s.heads / s.kv_heads);
  p.rows = int(s.q_len * p.group);
  p.scale_log2 = s.scale * kLog2e;
  p.vec = (s.head_dim * element_size(dtype)) % 16 == 0 && aligned16(k_cache) && aligned16(v_cache);
  p.error_flag = error_flag(device);
  // Decoding with up to 4 query heads per kv head: 4 rows, 16 elements (two 16-byte vectors of bf16) per lane,
  // so fewer lanes share a key and the score butterfly is shorter. Otherwise 8 rows of 8 elements, which keeps
  // the query and accumulator registers at 2 * 64 per thread.
  const bool small = p.rows <= 4;
  JSW_CUDA_DISPATCH_FLOAT(dtype, op, {
    if constexpr (sizeof(T) == 2) {
      if (small)
        launch_decode<T, 4, 16>(device, p, stream);
      else
        launch_decode<T, 8, 8>(device, p, stream);
    } else {
      if (small)
        launch_decode<T, 4, 8>(device, p, stream);
      else
        launch_decode<T, 8, 8>(device, p, stream);
    }
  });
}

void kv_cache_append(int device, int dtype, const DecodeShape& s, const void* k_new, const void* v_new,
                     void* k_cache, void* v_cache) {
  const int64_t tokens = s.batch * s.q_len, row = s.kv_heads * s.head_dim;
  require(tokens <= INT32_MAX, "jsw_kv_cache_append", "batch * q_len must be below 2^31");
  const bool vec = (row * element_size(dtype)) % 16 == 0 && aligned16(k_new) && aligned16(v_new) &&
                   aligned16(k_cache) && aligned16(v_cache);
  cudaStream_t stream = cuda::stream(device);
  int* flag = error_flag(device);
  JSW_CUDA_DISPATCH_FLOAT(dtype, "jsw_kv_cache_append", {
    kv_append_kernel<T><<<unsigned(tokens), kThreads, 0, stream>>>(
        static_cast<const T*>(k_new), static_cast<const T*>(v_new), static_cast<T*>(k_cache),
        static_cast<T*>(v_cache), s.kv_len, int(s.q_len), s.capacity, row, vec, flag);
    check_launch("kv_append_kernel");
  });
}

}  // namespace cuda
}  // namespace jsw
