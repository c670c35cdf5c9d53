// Shared pieces of the CUDA flash attention (attention_fwd.cu, attention_bwd.cu, and the tensor-core kernels
// attention_fwd_tc.cu, attention_bwd_tc.cu): the call parameters, the sequence geometry and visibility rule,
// tile loads into shared memory, and the two warp-level tile products of the generic kernels.
//
// Every product is computed per warp on 16-row strips in the register layout of the tensor-core instruction
// mma.sync.m16n8k16: lane = 4 * g + t holds, of each 16 x 8 accumulator tile ("n-tile"), the elements
// (g, 2t), (g, 2t + 1), (g + 8, 2t), (g + 8, 2t + 1) as c[0..3]. bf16/f16 storage runs the real instruction
// (fp32 accumulation); fp32 storage runs the same products as FMAs on the same register layout, so the
// softmax, masking and bookkeeping code around them is one code for all three types.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <type_traits>

#include "common.cuh"
#include "mma.cuh"
#include "kernels/attention.h"

namespace jsw {
namespace cuda {
namespace attn {

constexpr float kLog2e = 1.4426950408889634f;
constexpr float kLn2 = 0.6931471805599453f;

struct Params {
  const void* q;
  const void* k;
  const void* v;
  const void* out;
  const void* dout;
  const float* lse;    // backward input, natural log
  const float* delta;  // backward: rowsum(dout * out), [batch * seq_len, heads] by (sequence, position)
  void* out_w;
  float* lse_w;
  void* dq;
  void* dk;
  void* dv;
  float* delta_w;
  float* dq_acc;  // backward on tensor cores: fp32 dQ sums, row (b * seq_len + i) * heads + h, dq_ld floats each
  int dq_ld;
  const int32_t* cu_seqlens;
  const int32_t* key_mask;
  int64_t seq_len, window;
  int batch, heads, kv_heads, head_dim, group, causal;
  float scale, scale_log2;
  bool vec_loads;  // every row of q, k, v, dout starts 16-byte aligned: tiles load with 16-byte vectors
  int* error_flag;
  // A chunk of queries over a KV cache (fwd_tensor_cores_cached, jsw_attention_decode's q_len > 1): q_len queries
  // per sequence, the last ones of kv_len[b] keys, in caches of seq_len (= capacity) slots; null otherwise.
  const int32_t* kv_len;
  int q_len;
};

struct Seq {
  int64_t start;
  int len;
  bool ok;
};

// Where sequence b lives. Packed offsets come from device memory and are checked here (the host cannot
// without a synchronisation): a bad sequence raises the device error flag and is skipped.
__device__ __forceinline__ Seq sequence(const Params& p, int b) {
  if (p.cu_seqlens == nullptr) return {int64_t(b) * p.seq_len, int(p.seq_len), true};
  const int s0 = p.cu_seqlens[b], s1 = p.cu_seqlens[b + 1];
  const bool ok = s0 >= 0 && s1 >= s0 && int64_t(s1) - s0 <= p.seq_len && (b > 0 || s0 == 0);
  if (!ok && threadIdx.x == 0) atomicOr(p.error_flag, kErrSeqlens);
  return {s0, ok ? s1 - s0 : 0, ok};
}

// One (sequence, position, query head) row of the per-row backward kernels (delta, dQ cast), rows counted over
// [batch, seq_len, heads] in that order. False for a row past the end or a padding position; else *token is the
// row's token in the packed layout (sequence start + position) and *head its query head.
__device__ __forceinline__ bool query_row(const Params& p, int64_t row, int64_t* token, int* head) {
  if (row >= int64_t(p.batch) * p.seq_len * p.heads) return false;
  const int64_t pos = row / p.heads;
  const int b = int(pos / p.seq_len), i = int(pos % p.seq_len);
  const Seq sq = sequence(p, b);
  if (i >= sq.len) return false;
  *token = sq.start + i;
  *head = int(row % p.heads);
  return true;
}

// Query i sees key j (positions in a sequence of length len).
__device__ __forceinline__ bool visible(const Params& p, const int32_t* mask, int i, int j, int len) {
  return j < len && (!p.causal || j <= i) && (p.window <= 0 || int64_t(i) - j < p.window) &&
         (mask == nullptr || mask[j] != 0);
}

__host__ __device__ constexpr int round_up16(int x) { return (x + 15) / 16 * 16; }

// Shared-memory row stride of a tile with kCols columns: 16 extra bytes put consecutive rows 4 banks apart,
// so the fragment loads below (8 rows x 4 words, or 4 row pairs x 8 columns) hit 32 distinct banks.
template <class T, int kCols>
constexpr int smem_ld() {
  return kCols + 16 / int(sizeof(T));
}

// Loads rows [0, valid) of a global [rows, D] matrix (row stride gld elements) into a tile of `rows` rows and
// Dp = round_up16(D) columns; missing rows and columns [D, Dp) become 0, so they add nothing to a product.
template <class T>
__device__ __forceinline__ void load_tile(T* s, int ld, const T* g, int64_t gld, int valid, int rows, int D, int Dp,
                                          bool vec) {
  if (vec) {  // D is a multiple of the 16-byte vector: each vector is wholly inside [0, D) or wholly outside
    constexpr int E = 16 / int(sizeof(T));
    const int chunks = Dp / E;
    for (int idx = threadIdx.x; idx < rows * chunks; idx += blockDim.x) {
      const int r = idx / chunks, c = (idx - r * chunks) * E;
      uint4 val = make_uint4(0, 0, 0, 0);
      if (r < valid && c < D) val = *reinterpret_cast<const uint4*>(g + r * gld + c);
      *reinterpret_cast<uint4*>(s + r * ld + c) = val;
    }
  } else {
    for (int idx = threadIdx.x; idx < rows * Dp; idx += blockDim.x) {
      const int r = idx / Dp, c = idx - r * Dp;
      s[r * ld + c] = r < valid && c < D ? g[r * gld + c] : from_f<T>(0.0f);
    }
  }
}

// Two 16-bit elements at unrelated addresses into one fragment register.
template <class T>
__device__ __forceinline__ uint32_t pack_pair(const T* lo, const T* hi) {
  return uint32_t(*reinterpret_cast<const uint16_t*>(lo)) | (uint32_t(*reinterpret_cast<const uint16_t*>(hi)) << 16);
}

// Two consecutive 16-bit elements (4-byte aligned: even index in a row of even stride).
template <class T>
__device__ __forceinline__ uint32_t load_pair(const T* p) {
  return *reinterpret_cast<const uint32_t*>(p);
}

// ---- the two tile products ------------------------------------------------------------------------------

// acc[nt] += A B over the first nt_count n-tiles, for a 16-row strip:
//   A (16 x 16 ksteps): A(m, k) = a[m * lda + k]   (rows contiguous along k: a Q, K, V or dO tile)
//   B (16 ksteps x 8 NT): B(k, n) = b[n * ldb + k] (the transpose of a row-major tile: B = K^T, Q^T, V^T ...)
template <class T, int NT>
__device__ __forceinline__ void mma_rows(float (&acc)[NT][4], int nt_count, const T* a, int lda, const T* b, int ldb,
                                         int ksteps) {
  const int lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  if constexpr (std::is_same<T, float>::value) {
    for (int k = 0; k < 16 * ksteps; k++) {
      const float a0 = a[g * lda + k], a1 = a[(g + 8) * lda + k];
#pragma unroll
      for (int nt = 0; nt < NT; nt++) {
        if (nt < nt_count) {
          const float b0 = b[(8 * nt + 2 * t) * ldb + k], b1 = b[(8 * nt + 2 * t + 1) * ldb + k];
          acc[nt][0] += a0 * b0;
          acc[nt][1] += a0 * b1;
          acc[nt][2] += a1 * b0;
          acc[nt][3] += a1 * b1;
        }
      }
    }
  } else {
    for (int ks = 0; ks < ksteps; ks++) {
      const int k0 = 16 * ks + 2 * t;
      const uint32_t af[4] = {load_pair(a + g * lda + k0), load_pair(a + (g + 8) * lda + k0),
                              load_pair(a + g * lda + k0 + 8), load_pair(a + (g + 8) * lda + k0 + 8)};
#pragma unroll
      for (int nt = 0; nt < NT; nt++) {
        if (nt < nt_count) {
          const T* bn = b + (8 * nt + g) * ldb + k0;
          const uint32_t bf[2] = {load_pair(bn), load_pair(bn + 8)};
          mma16816<T>(acc[nt], af, bf);
        }
      }
    }
  }
}

// acc[nt] += P B over the first nt_count n-tiles, one k-step of 16, where P (16 x 16) is the accumulator of an
// earlier product held in registers (n-tiles p0 = columns 0..7, p1 = columns 8..15, as FA2 reuses S for P V)
// and B (16 x 8 NT) is a row-major tile: B(k, n) = b[k * ldb + n] (V, dO or Q rows).
template <class T, int NT>
__device__ __forceinline__ void mma_regs(float (&acc)[NT][4], int nt_count, const float (&p0)[4],
                                         const float (&p1)[4], const T* b, int ldb) {
  const int lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  if constexpr (std::is_same<T, float>::value) {
    // Row g's P(g, k) lives in the lane of the same group that holds column k: fetch it by shuffle.
#pragma unroll
    for (int k = 0; k < 16; k++) {
      const float* pk = k < 8 ? p0 : p1;
      const int src = (lane & ~3) | ((k & 7) >> 1);
      const float v0 = __shfl_sync(0xffffffffu, pk[k & 1], src);
      const float v1 = __shfl_sync(0xffffffffu, pk[2 + (k & 1)], src);
      const float* bk = b + k * ldb + 2 * t;
#pragma unroll
      for (int nt = 0; nt < NT; nt++) {
        if (nt < nt_count) {
          const float b0 = bk[8 * nt], b1 = bk[8 * nt + 1];
          acc[nt][0] += v0 * b0;
          acc[nt][1] += v0 * b1;
          acc[nt][2] += v1 * b0;
          acc[nt][3] += v1 * b1;
        }
      }
    }
  } else {
    const uint32_t af[4] = {pack_floats<T>(p0[0], p0[1]), pack_floats<T>(p0[2], p0[3]), pack_floats<T>(p1[0], p1[1]),
                            pack_floats<T>(p1[2], p1[3])};
#pragma unroll
    for (int nt = 0; nt < NT; nt++) {
      if (nt < nt_count) {
        const T* bn = b + 8 * nt + g;
        const uint32_t bf[2] = {pack_pair(bn + (2 * t) * ldb, bn + (2 * t + 1) * ldb),
                                pack_pair(bn + (2 * t + 8) * ldb, bn + (2 * t + 9) * ldb)};
        mma16816<T>(acc[nt], af, bf);
      }
    }
  }
}

// Max / sum over the 4 lanes (t = 0..3) that share the rows of a fragment.
__device__ __forceinline__ float quad_max(float v) {
  v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 1));
  return fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 2));
}
__device__ __forceinline__ float quad_sum(float v) {
  v += __shfl_xor_sync(0xffffffffu, v, 1);
  return v + __shfl_xor_sync(0xffffffffu, v, 2);
}

// The kernel parameters of one call, without its data pointers.
inline Params make_params(const AttentionShape& s, int* error_flag) {
  require(s.batch * s.heads <= INT32_MAX, "jsw_attention", "batch * heads above 2^31 is not supported");
  Params p{};
  p.cu_seqlens = s.cu_seqlens;
  p.key_mask = s.key_mask;
  p.seq_len = s.seq_len;
  p.window = s.window;
  p.batch = int(s.batch);
  p.heads = int(s.heads);
  p.kv_heads = int(s.kv_heads);
  p.head_dim = int(s.head_dim);
  p.group = int(s.heads / s.kv_heads);
  p.causal = s.causal ? 1 : 0;
  p.scale = s.scale;
  p.scale_log2 = s.scale * kLog2e;
  p.error_flag = error_flag;
  return p;
}

// Whether every [*, head_dim] row of these tensors starts on a 16-byte boundary.
inline bool rows_aligned(int dtype, int64_t head_dim, std::initializer_list<const void*> ptrs) {
  const int64_t per_vector = dtype == JSW_F32 ? 4 : 8;
  if (head_dim % per_vector != 0) return false;
  for (const void* ptr : ptrs)
    if (reinterpret_cast<uintptr_t>(ptr) % 16 != 0) return false;
  return true;
}

// Opts a kernel into more than 48 KiB of dynamic shared memory (needed once per kernel and device; cheap).
template <class Kernel>
void allow_smem(Kernel kernel, size_t bytes) {
  if (bytes > 48 * 1024)
    JSW_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(bytes)));
}

// The tensor-core kernels for bf16 / f16 (attention_fwd_tc.cu, attention_bwd_tc.cu) need rows of 16-byte
// vectors (p.vec_loads); the generic kernels of attention_fwd.cu / attention_bwd.cu take the other calls, fp32,
// and the backward above head_dim 128.
void fwd_tensor_cores(int dtype, const Params& p, cudaStream_t s);
// The same kernel over a KV cache (p.kv_len, p.q_len set; p.seq_len = the capacity, p.batch, causal): query i of
// sequence b at position kv_len[b] - q_len + i, keys from slot b * capacity. A kv_len outside [q_len, capacity]
// raises kErrKvLen and gives that sequence out = 0, lse = -inf.
void fwd_tensor_cores_cached(int dtype, const Params& p, cudaStream_t s);
// The dQ accumulator row length of the tensor-core backward for this call, or 0 where it does not run.
int bwd_tensor_cores_ld(int dtype, int head_dim, bool vec);
// Needs p.delta (from attention_delta_kernel) and p.dq_acc zeroed; writes dq, dk, dv.
void bwd_tensor_cores(int dtype, const Params& p, cudaStream_t s);

}  // namespace attn
}  // namespace cuda
}  // namespace jsw
