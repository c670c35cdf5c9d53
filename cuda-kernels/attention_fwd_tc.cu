// Flash-attention forward on tensor cores for bf16 / f16, the twin of native/src/cpu/attention_fwd.cpp (fp32
// runs the generic kernel of attention_fwd.cu). FA2's schedule for sm_80 / sm_90 with mma.sync.m16n8k16:
//  - one block of 4 warps per (sequence, query head, kBm queries); a warp owns kBm / 4 query rows, so every K
//    or V fragment it reads from shared memory feeds kBm / 64 tensor-core products;
//  - K and V tiles of kBn keys stream through shared memory by cp.async, double buffered: tile n + 1 lands
//    while tile n is multiplied, and one barrier per tile suffices;
//  - fragments come from ldmatrix (V through .trans), on rows padded so that it never conflicts;
//  - scores go to log2 units (scale * log2 e folded into one FFMA before ex2); P stays in the registers of S,
//    rounded to T, as the A operand of P V; O, the running max m and sum l stay in registers;
//  - key tiles that causality or the window hide entirely are never visited; only the tiles that straddle the
//    diagonal, the window edge, a key mask or the sequence end apply the visibility rule per element.
// At the end out = O / l (staged through shared memory for 16-byte stores) and lse = (m + log2 l) ln 2.
// Cache mode (kCache, jsw_attention_decode's chunks of 16+ queries): the keys are a sequence's first kv_len[b]
// slots of a KV cache and its q_len queries the last of those positions; rows_of gives each mode's geometry, and
// visibility compares positions, so the loop is the same.
// Rows must be 16-byte vectors (head_dim % 8 == 0, aligned pointers); attention_fwd.cu sends other calls to
// the generic kernel.
#include "attention_tc.cuh"

namespace jsw {
namespace cuda {
namespace attn {

namespace {

constexpr int kFwdWarps = 4;

// Tile sizes per padded head_dim. 128 queries per block (two 16-row strips per warp) halve the shared-memory
// reads per product against 64; the O accumulator (kBm * kDp / 128 floats per thread) then bounds head_dim at
// 128, above which a warp keeps one strip. Shared memory: Q and two buffers of K and V (head_dim 128: 102 KiB,
// two blocks per H100 SM).
template <int kDp>
struct FwdTiles {
  static constexpr int kBm = kDp <= 128 ? 128 : 64;  // queries per block
  static constexpr int kBn = kDp <= 128 ? 64 : 32;   // keys per tile
  static constexpr int kStrips = kBm / (16 * kFwdWarps);
  static constexpr int kLd = tc_ld<kDp>();
  static constexpr size_t kSmem = size_t(kBm + 4 * kBn) * kLd * 2;
};

// The rows of sequence b a block works on: its queries (rows of q and out from q_start), the position of the first
// among the keys (0 when queries and keys are the same tokens), and the keys (rows of k and v from k_start).
struct Rows {
  int64_t q_start, k_start;
  int queries, first_position, keys;
};

template <bool kCache>
__device__ __forceinline__ Rows rows_of(const Params& p, int b) {
  if constexpr (kCache) {
    const int kv = p.kv_len[b];
    const bool ok = kv >= p.q_len && int64_t(kv) <= p.seq_len;
    if (!ok && threadIdx.x == 0) atomicOr(p.error_flag, kErrKvLen);
    return {int64_t(b) * p.q_len, int64_t(b) * p.seq_len, p.q_len, ok ? kv - p.q_len : 0, ok ? kv : 0};
  } else {
    const Seq sq = sequence(p, b);
    return {sq.start, sq.start, sq.len, 0, sq.len};
  }
}

template <class T, int kDp, bool kCache>
__global__ void __launch_bounds__(32 * kFwdWarps, 2) attention_fwd_tc_kernel(Params p) {
  using C = FwdTiles<kDp>;
  constexpr int kBm = C::kBm, kBn = C::kBn, kMt = C::kStrips, kLd = C::kLd, kThreads = 32 * kFwdWarps;
  constexpr int kNtS = kBn / 8, kNtO = kDp / 8;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  T* qs = reinterpret_cast<T*>(smem_raw);
  T* ks = qs + kBm * kLd;      // [2][kBn][kLd]
  T* vs = ks + 2 * kBn * kLd;  // [2][kBn][kLd]

  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  const int b = blockIdx.x / p.heads, h = blockIdx.x % p.heads;
  const Rows rw = rows_of<kCache>(p, b);
  // Under a causal mask the last query blocks do the most work: they get the lowest block index, so they start
  // first and the short blocks fill the tail.
  const int q0 = int(gridDim.y - 1 - blockIdx.y) * kBm;
  if (q0 >= rw.queries) return;  // uniform over the block
  // len: the keys; qp0: the position of query q0 among them (visibility compares positions).
  const int len = rw.keys, kvh = h / p.group, D = p.head_dim, nq = min(kBm, rw.queries - q0);
  const int qp0 = rw.first_position + q0;
  const int32_t* mask = p.key_mask ? p.key_mask + int64_t(b) * p.seq_len : nullptr;
  const T* k = static_cast<const T*>(p.k) + (rw.k_start * p.kv_heads + kvh) * D;
  const T* v = static_cast<const T*>(p.v) + (rw.k_start * p.kv_heads + kvh) * D;
  const int64_t qld = int64_t(p.heads) * D, kld = int64_t(p.kv_heads) * D;

  tile_load<T, kBm, kDp, kThreads>(qs, static_cast<const T*>(p.q) + ((rw.q_start + q0) * p.heads + h) * D, qld, nq,
                                   D);
  const int qlast = qp0 + nq - 1;
  const Visibility vis = visibility(p, len);
  int klo = p.window > 0 ? int(max(int64_t(0), int64_t(qp0) - p.window + 1)) : 0;
  klo = klo / kBn * kBn;
  const int khi = !p.causal ? len : kCache ? min(len, qlast + 1) : qlast + 1;  // a bad kv_len leaves no keys
  const int ntiles = klo < khi ? (khi - klo + kBn - 1) / kBn : 0;
  // Key tile n goes to buffer n & 1 of K and of V.
  auto load_kv = [&](int n) {
    const int k0 = klo + n * kBn, nk = min(kBn, len - k0), buf = n & 1;
    tile_load<T, kBn, kDp, kThreads>(ks + buf * kBn * kLd, k + k0 * kld, kld, nk, D);
    tile_load<T, kBn, kDp, kThreads>(vs + buf * kBn * kLd, v + k0 * kld, kld, nk, D);
  };
  if (ntiles > 0) load_kv(0);
  cp_async_commit();

  const int row0 = 16 * kMt * warp;  // this warp's first row in the block
  float o[kMt][kNtO][4], m[kMt][2], l[kMt][2];
#pragma unroll
  for (int mt = 0; mt < kMt; mt++) {
#pragma unroll
    for (int nt = 0; nt < kNtO; nt++) o[mt][nt][0] = o[mt][nt][1] = o[mt][nt][2] = o[mt][nt][3] = 0.0f;
    m[mt][0] = m[mt][1] = -INFINITY;
    l[mt][0] = l[mt][1] = 0.0f;
  }

  // This lane's ldmatrix row addresses (bytes, shared space) in Q (A operand), K (B, rows = keys) and V (B,
  // rows = k = keys, .trans); the strip, k-step and n-tile offsets are compile-time constants.
  const uint32_t q_lane = smem_addr(qs + (row0 + (lane & 15)) * kLd + 8 * (lane >> 4));
  const uint32_t k_lane = smem_addr(ks + ((lane & 7) + 8 * (lane >> 4)) * kLd + 8 * ((lane >> 3) & 1));
  const uint32_t v_lane = smem_addr(vs + ((lane & 7) + 8 * ((lane >> 3) & 1)) * kLd + 8 * (lane >> 4));

  for (int it = 0; it < ntiles; it++) {
    const int k0 = klo + it * kBn, nk = min(kBn, len - k0);
    const uint32_t buf_off = (it & 1) * (kBn * kLd * 2);
    cp_async_wait<0>();
    __syncthreads();  // K, V of tile it (and Q) landed for every thread; every warp is done with tile it - 1
    if (it + 1 < ntiles) load_kv(it + 1);  // into the buffers of tile it - 1
    cp_async_commit();

    // S = Q K^T for this warp's strips.
    float s[kMt][kNtS][4];
#pragma unroll
    for (int mt = 0; mt < kMt; mt++)
#pragma unroll
      for (int nt = 0; nt < kNtS; nt++) s[mt][nt][0] = s[mt][nt][1] = s[mt][nt][2] = s[mt][nt][3] = 0.0f;
    // The k-steps run in groups of 4 (a loop over the groups): fully unrolled, ptxas loads fragments so far ahead
    // that head_dim 128 spills on sm_90.
    constexpr int kKs = kDp / 16, kKu = kKs % 4 == 0 ? 4 : kKs;
#pragma unroll 1
    for (int k0s = 0; k0s < kKs; k0s += kKu) {
#pragma unroll
      for (int ku = 0; ku < kKu; ku++) {
        const uint32_t koff = (k0s + ku) * 32;  // bytes of 16 columns
        uint32_t a[kMt][4];
#pragma unroll
        for (int mt = 0; mt < kMt; mt++) ldsm_x4(a[mt], q_lane + koff + 16 * mt * kLd * 2);
#pragma unroll
        for (int np = 0; np < kNtS / 2; np++) {
          uint32_t bf[4];
          ldsm_x4(bf, k_lane + buf_off + koff + 16 * np * kLd * 2);
#pragma unroll
          for (int mt = 0; mt < kMt; mt++) {
            mma<T>(s[mt][2 * np], a[mt], bf[0], bf[1]);
            mma<T>(s[mt][2 * np + 1], a[mt], bf[2], bf[3]);
          }
        }
      }
    }

    // Online softmax in log2 units (scores times c = scale log2 e). On tiles where every key is visible the row
    // maxima come from the raw scores (the largest scaled score is the largest raw one times c, or the smallest
    // one when c < 0) and 2^(s c - m) is one FFMA and one ex2; tiles with hidden keys scale first and set those
    // to -inf. The exponent offset stays 0 while a row has seen no key, so 2^(-inf - 0) = 0 and the row keeps
    // O = 0, l = 0. P leaves as the A operands of P V, rounded to T.
    const bool full = mask == nullptr && nk == kBn && (!p.causal || k0 + kBn - 1 <= qp0) &&
                      (p.window <= 0 || int64_t(qlast) - k0 < p.window);
    const float c = p.scale_log2, f = full ? c : 1.0f;
    const uint32_t keys = full ? 0u : key_bits<kNtS>(vis, k0 + 2 * t, mask);
    uint32_t pa[kMt][kBn / 16][4];
#pragma unroll
    for (int mt = 0; mt < kMt; mt++) {
      float mx0 = -INFINITY, mx1 = -INFINITY;
      if (full) {
        if (c >= 0.0f) {
#pragma unroll
          for (int nt = 0; nt < kNtS; nt++) {
            mx0 = fmaxf(mx0, fmaxf(s[mt][nt][0], s[mt][nt][1]));
            mx1 = fmaxf(mx1, fmaxf(s[mt][nt][2], s[mt][nt][3]));
          }
        } else {
#pragma unroll
          for (int nt = 0; nt < kNtS; nt++) {
            mx0 = fmaxf(mx0, fmaxf(-s[mt][nt][0], -s[mt][nt][1]));
            mx1 = fmaxf(mx1, fmaxf(-s[mt][nt][2], -s[mt][nt][3]));
          }
        }
        mx0 *= fabsf(c);
        mx1 *= fabsf(c);
      } else {
#pragma unroll
        for (int nt = 0; nt < kNtS; nt++)
#pragma unroll
          for (int e = 0; e < 4; e++) s[mt][nt][e] *= c;
        mask_tile<kNtS>(s[mt], vis, qp0 + row0 + 16 * mt + g, k0 + 2 * t, keys);
#pragma unroll
        for (int nt = 0; nt < kNtS; nt++) {
          mx0 = fmaxf(mx0, fmaxf(s[mt][nt][0], s[mt][nt][1]));
          mx1 = fmaxf(mx1, fmaxf(s[mt][nt][2], s[mt][nt][3]));
        }
      }
      mx0 = fmaxf(m[mt][0], quad_max(mx0));
      mx1 = fmaxf(m[mt][1], quad_max(mx1));
      const float u0 = mx0 == -INFINITY ? 0.0f : mx0, u1 = mx1 == -INFINITY ? 0.0f : mx1;
      const float a0 = ex2(m[mt][0] - u0), a1 = ex2(m[mt][1] - u1);
      m[mt][0] = mx0;
      m[mt][1] = mx1;
      float sum0 = 0.0f, sum1 = 0.0f;
#pragma unroll
      for (int nt = 0; nt < kNtS; nt++) {
        s[mt][nt][0] = ex2(fmaf(s[mt][nt][0], f, -u0));
        s[mt][nt][1] = ex2(fmaf(s[mt][nt][1], f, -u0));
        s[mt][nt][2] = ex2(fmaf(s[mt][nt][2], f, -u1));
        s[mt][nt][3] = ex2(fmaf(s[mt][nt][3], f, -u1));
        sum0 += s[mt][nt][0] + s[mt][nt][1];  // this lane's columns only; the quad sums once at the end
        sum1 += s[mt][nt][2] + s[mt][nt][3];
      }
      l[mt][0] = l[mt][0] * a0 + sum0;
      l[mt][1] = l[mt][1] * a1 + sum1;
#pragma unroll
      for (int kk = 0; kk < kBn / 16; kk++) acc_to_a<T>(pa[mt][kk], s[mt][2 * kk], s[mt][2 * kk + 1]);
#pragma unroll
      for (int nt = 0; nt < kNtO; nt++) {
        o[mt][nt][0] *= a0;
        o[mt][nt][1] *= a0;
        o[mt][nt][2] *= a1;
        o[mt][nt][3] *= a1;
      }
    }

    // O += P V, P straight from the S registers.
#pragma unroll
    for (int kk = 0; kk < kBn / 16; kk++) {
#pragma unroll
      for (int np = 0; np < kNtO / 2; np++) {
        uint32_t bf[4];
        ldsm_x4_t(bf, v_lane + buf_off + (16 * kk * kLd + 16 * np) * 2);
#pragma unroll
        for (int mt = 0; mt < kMt; mt++) {
          mma<T>(o[mt][2 * np], pa[mt][kk], bf[0], bf[1]);
          mma<T>(o[mt][2 * np + 1], pa[mt][kk], bf[2], bf[3]);
        }
      }
    }
  }

  // Epilogue. Only this warp ever reads its Q rows, so they become the staging area of its output rows (the
  // barrier is for the degenerate call without a key tile, whose Q copies would still be in flight).
  cp_async_wait<0>();
  __syncthreads();
  T* out = static_cast<T*>(p.out_w);
#pragma unroll
  for (int mt = 0; mt < kMt; mt++) {
#pragma unroll
    for (int half = 0; half < 2; half++) {
      const float lsum = quad_sum(l[mt][half]);
      const float inv = lsum > 0.0f ? 1.0f / lsum : 0.0f;
      const int r = row0 + 16 * mt + g + 8 * half;
      T* srow = qs + r * kLd + 2 * t;
#pragma unroll
      for (int nt = 0; nt < kNtO; nt++)
        *reinterpret_cast<uint32_t*>(srow + 8 * nt) =
            pack_floats<T>(o[mt][nt][2 * half] * inv, o[mt][nt][2 * half + 1] * inv);
      if (t == 0 && q0 + r < rw.queries && (!kCache || p.lse_w != nullptr))  // lse is optional for decode
        p.lse_w[(rw.q_start + q0 + r) * p.heads + h] = lsum > 0.0f ? (m[mt][half] + log2f(lsum)) * kLn2 : -INFINITY;
    }
  }
  __syncwarp();
  T* orow0 = out + ((rw.q_start + q0 + row0) * p.heads + h) * D;
  const int rows = min(16 * kMt, rw.queries - q0 - row0);
  for (int idx = lane; idx < rows * (kDp / 8); idx += 32) {
    const int r = idx / (kDp / 8), c = (idx - r * (kDp / 8)) * 8;
    if (c < D)
      *reinterpret_cast<uint4*>(orow0 + r * qld + c) = *reinterpret_cast<const uint4*>(qs + (row0 + r) * kLd + c);
  }
}

template <class T, int kDp, bool kCache>
void launch_fwd_tc(const Params& p, cudaStream_t s) {
  using C = FwdTiles<kDp>;
  allow_smem(attention_fwd_tc_kernel<T, kDp, kCache>, C::kSmem);
  const int64_t queries = kCache ? p.q_len : p.seq_len;
  dim3 grid(unsigned(p.batch) * unsigned(p.heads), unsigned((queries + C::kBm - 1) / C::kBm));
  attention_fwd_tc_kernel<T, kDp, kCache><<<grid, 32 * kFwdWarps, C::kSmem, s>>>(p);
  check_launch("attention_fwd_tc_kernel");
}

template <class T, bool kCache>
void launch_fwd_tc_for_head_dim(const Params& p, cudaStream_t s) {
  if (p.head_dim <= 64)
    launch_fwd_tc<T, 64, kCache>(p, s);
  else if (p.head_dim <= 96)
    launch_fwd_tc<T, 96, kCache>(p, s);
  else if (p.head_dim <= 128)
    launch_fwd_tc<T, 128, kCache>(p, s);
  else
    launch_fwd_tc<T, 256, kCache>(p, s);
}

}  // namespace

void fwd_tensor_cores(int dtype, const Params& p, cudaStream_t s) {
  if (dtype == JSW_BF16)
    launch_fwd_tc_for_head_dim<__nv_bfloat16, false>(p, s);
  else
    launch_fwd_tc_for_head_dim<__half, false>(p, s);
}

void fwd_tensor_cores_cached(int dtype, const Params& p, cudaStream_t s) {
  if (dtype == JSW_BF16)
    launch_fwd_tc_for_head_dim<__nv_bfloat16, true>(p, s);
  else
    launch_fwd_tc_for_head_dim<__half, true>(p, s);
}

}  // namespace attn
}  // namespace cuda
}  // namespace jsw
