// Flash-attention backward on tensor cores for bf16 / f16 up to head_dim 128, the twin of
// native/src/cpu/attention_bwd.cpp (fp32, larger heads and rows that are not 16-byte vectors run the generic
// kernels of attention_bwd.cu).
// FA2's algorithm, 5 tile products per (query tile, key tile):
//  - one block of 8 warps per (sequence, kv head, 128 keys); warp w owns keys 16 w .. 16 w + 15 and keeps their
//    dK and dV rows in registers for the whole block;
//  - the block walks the query heads of its GQA group and, for each, the query tiles of kBm rows its keys are
//    visible from (tiles hidden by causality or the window are skipped). Q, dO, lse and delta of the next tile
//    land by cp.async (double buffered) while the current one is processed:
//      S^T = K Q^T and dP^T = V dO^T               (16 keys x kBm queries per warp, in registers)
//      P^T = 2^(S^T scale log2 e - lse log2 e),  dS^T = P^T (dP^T - delta)   (masked per element only on the
//      tiles that straddle the diagonal, the window edge, a key mask or a sequence end)
//      dV += P^T dO,  dK += dS^T Q                 (P^T, dS^T straight from the registers as A operands)
//      dQ += dS K                                  (dS^T through shared memory: the product sums over the keys
//                                                   of all warps; fp32 reductions into a zeroed accumulator)
//  - dK = scale dK and dV are written once at the end; attention_dq_cast_kernel turns the dQ accumulator into
//    dq = scale dQ after the last block.
// delta = rowsum(dO * out) comes from attention_delta_kernel (attention_bwd.cu), which also zeroes the
// accumulator. GQA needs no reduction for dK / dV: a block owns its kv head's rows and sums the group inside.
#include "attention_tc.cuh"

namespace jsw {
namespace cuda {
namespace attn {

namespace {

constexpr int kBwdWarps = 8;
constexpr int kBwdKeys = 16 * kBwdWarps;  // keys per block

// dK and dV take kDp / 2 floats per thread each, S^T and dP^T kBm / 4 each: 32 queries per tile keep
// head_dim 128 within the 255-register budget; head_dim 64 affords 64.
template <int kDp>
struct BwdTiles {
  static constexpr int kBm = kDp <= 64 ? 64 : 32;  // queries per tile
  static constexpr int kLd = tc_ld<kDp>();
  static constexpr int kLdS = tc_ld<kBm>();  // dS^T tile [keys][queries]
  // dQ tile (kBm x kDp) split over the warps: kQw along the queries (16 rows each), the rest along head_dim.
  static constexpr int kQw = kBm / 16, kDw = kBwdWarps / kQw, kNtDq = kDp / 8 / kDw;
  static constexpr size_t kSmem = size_t(2 * kBwdKeys + 4 * kBm) * kLd * 2 + size_t(kBwdKeys) * kLdS * 2 +
                                  size_t(4 * kBm) * sizeof(float);
  static_assert(kDp / 8 % kDw == 0, "dQ columns must split evenly over the warps");
};

template <class T, int kDp>
__global__ void __launch_bounds__(32 * kBwdWarps, 1) attention_bwd_tc_kernel(Params p) {
  using C = BwdTiles<kDp>;
  constexpr int kBn = kBwdKeys, kBm = C::kBm, kLd = C::kLd, kLdS = C::kLdS, kThreads = 32 * kBwdWarps;
  constexpr int kNtQ = kBm / 8, kNtD = kDp / 8, kNtDq = C::kNtDq;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  T* ks = reinterpret_cast<T*>(smem_raw);
  T* vs = ks + kBn * kLd;
  T* qbuf = vs + kBn * kLd;          // [2][kBm][kLd]
  T* dobuf = qbuf + 2 * kBm * kLd;   // [2][kBm][kLd]
  T* dss = dobuf + 2 * kBm * kLd;    // [kBn][kLdS]
  float* lse_buf = reinterpret_cast<float*>(dss + kBn * kLdS);  // [2][kBm], natural log
  float* dl_buf = lse_buf + 2 * kBm;                             // [2][kBm]

  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  const int b = blockIdx.x / p.kv_heads, kvh = blockIdx.x % p.kv_heads;
  const Seq sq = sequence(p, b);
  const int k0 = blockIdx.y * kBn;
  if (k0 >= sq.len) return;  // uniform over the block
  const int len = sq.len, D = p.head_dim, nk = min(kBn, len - k0);
  const int32_t* mask = p.key_mask ? p.key_mask + int64_t(b) * p.seq_len : nullptr;
  const int64_t qld = int64_t(p.heads) * D, kld = int64_t(p.kv_heads) * D;
  const int64_t koff = ((sq.start + k0) * p.kv_heads + kvh) * D;
  tile_load<T, kBn, kDp, kThreads>(ks, static_cast<const T*>(p.k) + koff, kld, nk, D);
  tile_load<T, kBn, kDp, kThreads>(vs, static_cast<const T*>(p.v) + koff, kld, nk, D);

  // Query tiles that see at least one of these keys: causal ones start at the block's first key, windowed
  // ones end where the window has left the last key.
  const int qlo = p.causal ? k0 / kBm * kBm : 0;
  const int qhi = p.window > 0 ? int(min(int64_t(len), int64_t(k0) + nk - 1 + p.window)) : len;
  const int ntiles = qlo < qhi ? (qhi - qlo + kBm - 1) / kBm : 0;
  const int iters = p.group * ntiles;

  // Tile `it` (query head kvh * group + it / ntiles, queries from qlo + (it % ntiles) kBm) into buffer `buf`.
  auto load_tile_q = [&](int it, int buf) {
    const int h = kvh * p.group + it / ntiles, q0 = qlo + (it % ntiles) * kBm, nq = min(kBm, len - q0);
    const int64_t qoff = ((sq.start + q0) * p.heads + h) * D;
    tile_load<T, kBm, kDp, kThreads>(qbuf + buf * kBm * kLd, static_cast<const T*>(p.q) + qoff, qld, nq, D);
    tile_load<T, kBm, kDp, kThreads>(dobuf + buf * kBm * kLd, static_cast<const T*>(p.dout) + qoff, qld, nq, D);
    const int i = threadIdx.x;
    if (i < kBm) {  // rows past the sequence read as 0; the masked path never uses them
      const bool ok = i < nq;
      const float* lsrc = p.lse + (sq.start + q0 + (ok ? i : 0)) * p.heads + h;
      const float* dsrc = p.delta + (int64_t(b) * p.seq_len + q0 + (ok ? i : 0)) * p.heads + h;
      cp_async4(smem_addr(lse_buf + buf * kBm + i), lsrc, ok ? 4 : 0);
      cp_async4(smem_addr(dl_buf + buf * kBm + i), dsrc, ok ? 4 : 0);
    }
  };
  if (iters > 0) load_tile_q(0, 0);
  cp_async_commit();

  float dk[kNtD][4], dv[kNtD][4];
#pragma unroll
  for (int nt = 0; nt < kNtD; nt++)
    dk[nt][0] = dk[nt][1] = dk[nt][2] = dk[nt][3] = dv[nt][0] = dv[nt][1] = dv[nt][2] = dv[nt][3] = 0.0f;
  // This lane's ldmatrix row addresses (shared space, bytes); buffer, k-step and n-tile offsets are constants.
  // A operands of this warp's 16 keys (K, V rows):
  const uint32_t kw_lane = smem_addr(ks + (16 * warp + (lane & 15)) * kLd + 8 * (lane >> 4));
  const uint32_t vw_lane = kw_lane + kBn * kLd * 2;
  // B operands from Q / dO rows as n (S^T, dP^T) and as k (dV, dK, .trans); dO sits 2 kBm rows after Q:
  const uint32_t qn_lane = smem_addr(qbuf + ((lane & 7) + 8 * (lane >> 4)) * kLd + 8 * ((lane >> 3) & 1));
  const uint32_t qk_lane = smem_addr(qbuf + ((lane & 7) + 8 * ((lane >> 3) & 1)) * kLd + 8 * (lane >> 4));
  constexpr uint32_t kDoOff = 2 * kBm * kLd * 2;
  const int j0 = k0 + 16 * warp + g, j1 = j0 + 8;  // this lane's two keys
  const Visibility vis = visibility(p, len);
  const bool key0 = j0 < len && (mask == nullptr || mask[j0] != 0);
  const bool key1 = j1 < len && (mask == nullptr || mask[j1] != 0);
  const int2 seen0 = queries_seeing(vis, j0), seen1 = queries_seeing(vis, j1);
  // dQ: this warp's part of the tile (16 queries from 16 wq, kNtDq n-tiles from column n0); A from dS^T
  // (rows = k = keys, .trans), B from K (rows = k = keys, .trans).
  const int wq = warp % C::kQw, n0 = 8 * kNtDq * (warp / C::kQw);
  const uint32_t ds_lane = smem_addr(dss + ((lane & 7) + 8 * (lane >> 4)) * kLdS + 16 * wq + 8 * ((lane >> 3) & 1));
  const uint32_t kk_lane = smem_addr(ks + ((lane & 7) + 8 * ((lane >> 3) & 1)) * kLd + n0 + 8 * (lane >> 4));

  for (int it = 0; it < iters; it++) {
    const int buf = it & 1;
    const int h = kvh * p.group + it / ntiles, q0 = qlo + (it % ntiles) * kBm, nq = min(kBm, len - q0);
    const uint32_t buf_off = buf * (kBm * kLd * 2);
    const float* lse_s = lse_buf + buf * kBm;
    const float* dl_s = dl_buf + buf * kBm;
    // Buffer buf ^ 1 was last read before the middle barrier of the previous iteration, which every warp has
    // passed: the next tile may land there.
    if (it + 1 < iters) load_tile_q(it + 1, buf ^ 1);
    cp_async_commit();
    cp_async_wait<1>();
    __syncthreads();  // tile `it` (and K, V) landed for every thread; every warp is done with dS of it - 1

    // S^T = K Q^T, dP^T = V dO^T for this warp's keys.
    float st[kNtQ][4], dpt[kNtQ][4];
#pragma unroll
    for (int nt = 0; nt < kNtQ; nt++)
      st[nt][0] = st[nt][1] = st[nt][2] = st[nt][3] = dpt[nt][0] = dpt[nt][1] = dpt[nt][2] = dpt[nt][3] = 0.0f;
#pragma unroll
    for (int kk = 0; kk < kDp / 16; kk++) {
      uint32_t ka[4], va[4];
      ldsm_x4(ka, kw_lane + 32 * kk);
      ldsm_x4(va, vw_lane + 32 * kk);
#pragma unroll
      for (int np = 0; np < kNtQ / 2; np++) {
        const uint32_t addr = qn_lane + buf_off + (16 * np * kLd + 16 * kk) * 2;
        uint32_t qf[4], df[4];
        ldsm_x4(qf, addr);
        ldsm_x4(df, addr + kDoOff);
        mma<T>(st[2 * np], ka, qf[0], qf[1]);
        mma<T>(st[2 * np + 1], ka, qf[2], qf[3]);
        mma<T>(dpt[2 * np], va, df[0], df[1]);
        mma<T>(dpt[2 * np + 1], va, df[2], df[3]);
      }
    }

    // P^T and dS^T. Column c of the accumulators is query q0 + c; rows are keys j0 (elements 0, 1), j1 (2, 3).
    const bool full = mask == nullptr && nk == kBn && nq == kBm && (!p.causal || k0 + kBn - 1 <= q0) &&
                      (p.window <= 0 || int64_t(q0) + kBm - 1 - k0 < p.window);
#pragma unroll
    for (int nt = 0; nt < kNtQ; nt++) {
#pragma unroll
      for (int c = 0; c < 2; c++) {
        const int col = 8 * nt + 2 * t + c, i = q0 + col;
        const float L = lse_s[col], nl = -L * kLog2e, dl = dl_s[col];
        // A query that sees no key has lse = -inf and no probability anywhere (it never lies in a full tile).
        const bool row = (i < len) & (L != -INFINITY);
#pragma unroll
        for (int half = 0; half < 2; half++) {
          const int e = 2 * half + c;
          const int2 r = half ? seen1 : seen0;
          float pr = ex2(fmaf(st[nt][e], p.scale_log2, nl));
          if (!(full | (row & (half ? key1 : key0) & (i >= r.x) & (i <= r.y)))) pr = 0.0f;
          st[nt][e] = pr;
          dpt[nt][e] = pr * (dpt[nt][e] - dl);
        }
      }
    }

    // dV += P^T dO, dK += dS^T Q; dS^T (rounded to T, as the products use it) to shared memory for dQ.
#pragma unroll
    for (int kk = 0; kk < kBm / 16; kk++) {
      uint32_t pa[4], da[4];
      acc_to_a<T>(pa, st[2 * kk], st[2 * kk + 1]);
      acc_to_a<T>(da, dpt[2 * kk], dpt[2 * kk + 1]);
#pragma unroll
      for (int np = 0; np < kNtD / 2; np++) {
        const uint32_t addr = qk_lane + buf_off + (16 * kk * kLd + 16 * np) * 2;
        uint32_t df[4], qf[4];
        ldsm_x4_t(df, addr + kDoOff);
        ldsm_x4_t(qf, addr);
        mma<T>(dv[2 * np], pa, df[0], df[1]);
        mma<T>(dv[2 * np + 1], pa, df[2], df[3]);
        mma<T>(dk[2 * np], da, qf[0], qf[1]);
        mma<T>(dk[2 * np + 1], da, qf[2], qf[3]);
      }
      T* drow = dss + (16 * warp + g) * kLdS + 16 * kk + 2 * t;
      *reinterpret_cast<uint32_t*>(drow) = da[0];
      *reinterpret_cast<uint32_t*>(drow + 8 * kLdS) = da[1];
      *reinterpret_cast<uint32_t*>(drow + 8) = da[2];
      *reinterpret_cast<uint32_t*>(drow + 8 * kLdS + 8) = da[3];
    }
    __syncthreads();  // dS^T of all keys is in shared memory; Q, dO, lse, delta of buffer buf are consumed

    // dQ[16 wq .. + 16, kNtDq n-tiles from column 8 kNtDq wd] += dS K, summed over the 128 keys.
    float dq[kNtDq][4];
#pragma unroll
    for (int nt = 0; nt < kNtDq; nt++) dq[nt][0] = dq[nt][1] = dq[nt][2] = dq[nt][3] = 0.0f;
#pragma unroll
    for (int kk = 0; kk < kBn / 16; kk++) {
      uint32_t a[4];
      ldsm_x4_t(a, ds_lane + 16 * kk * kLdS * 2);
#pragma unroll
      for (int np = 0; np < kNtDq / 2; np++) {
        uint32_t kf[4];
        ldsm_x4_t(kf, kk_lane + (16 * kk * kLd + 16 * np) * 2);
        mma<T>(dq[2 * np], a, kf[0], kf[1]);
        mma<T>(dq[2 * np + 1], a, kf[2], kf[3]);
      }
      if (kNtDq % 2 != 0) {  // lanes 0..15 give the addresses, where lane >> 4 = 0
        uint32_t kf[2];
        ldsm_x2_t(kf, kk_lane + (16 * kk * kLd + 8 * (kNtDq - 1)) * 2);
        mma<T>(dq[kNtDq - 1], a, kf[0], kf[1]);
      }
    }
#pragma unroll
    for (int half = 0; half < 2; half++) {
      const int i = q0 + 16 * wq + g + 8 * half;
      if (i < len) {
        float* acc = p.dq_acc + ((int64_t(b) * p.seq_len + i) * p.heads + h) * p.dq_ld + n0 + 2 * t;
#pragma unroll
        for (int nt = 0; nt < kNtDq; nt++)
          if (n0 + 8 * nt + 2 * t < D) atomic_add2(acc + 8 * nt, dq[nt][2 * half], dq[nt][2 * half + 1]);
      }
    }
  }

  T* dko = static_cast<T*>(p.dk);
  T* dvo = static_cast<T*>(p.dv);
#pragma unroll
  for (int half = 0; half < 2; half++) {
    const int j = half ? j1 : j0;
    if (j >= len) continue;
    const int64_t row = ((sq.start + j) * p.kv_heads + kvh) * D;
#pragma unroll
    for (int nt = 0; nt < kNtD; nt++) {
      const int c = 8 * nt + 2 * t;
      const float k0v = p.scale * dk[nt][2 * half], k1v = p.scale * dk[nt][2 * half + 1];
      const float v0v = dv[nt][2 * half], v1v = dv[nt][2 * half + 1];
      if (c < D) {  // D % 8 == 0: the pair is inside too
        *reinterpret_cast<uint32_t*>(dko + row + c) = pack_floats<T>(k0v, k1v);
        *reinterpret_cast<uint32_t*>(dvo + row + c) = pack_floats<T>(v0v, v1v);
      }
    }
  }
}

constexpr int kCastWarps = 8;

// dq = scale * accumulator, one warp per (sequence, position, query head) row.
template <class T>
__global__ void attention_dq_cast_kernel(Params p) {
  const int64_t row = int64_t(blockIdx.x) * kCastWarps + (threadIdx.x >> 5);
  const int lane = threadIdx.x & 31;
  int64_t token;
  int h;
  if (!query_row(p, row, &token, &h)) return;
  const float* acc = p.dq_acc + row * p.dq_ld;
  T* dq = static_cast<T*>(p.dq) + (token * p.heads + h) * p.head_dim;
  for (int c = 2 * lane; c < p.head_dim; c += 64) {
    const float2 v = *reinterpret_cast<const float2*>(acc + c);
    *reinterpret_cast<uint32_t*>(dq + c) = pack_floats<T>(p.scale * v.x, p.scale * v.y);
  }
}

template <class T, int kDp>
void launch_bwd_tc(const Params& p, cudaStream_t s) {
  using C = BwdTiles<kDp>;
  allow_smem(attention_bwd_tc_kernel<T, kDp>, C::kSmem);
  dim3 grid(unsigned(p.batch) * unsigned(p.kv_heads), unsigned((p.seq_len + kBwdKeys - 1) / kBwdKeys));
  attention_bwd_tc_kernel<T, kDp><<<grid, 32 * kBwdWarps, C::kSmem, s>>>(p);
  check_launch("attention_bwd_tc_kernel");
  const int64_t rows = int64_t(p.batch) * p.seq_len * p.heads;
  attention_dq_cast_kernel<T><<<unsigned((rows + kCastWarps - 1) / kCastWarps), 32 * kCastWarps, 0, s>>>(p);
  check_launch("attention_dq_cast_kernel");
}

template <class T>
void launch_bwd_tc_for_head_dim(const Params& p, cudaStream_t s) {
  switch (p.dq_ld) {
    case 64:
      launch_bwd_tc<T, 64>(p, s);
      break;
    case 96:
      launch_bwd_tc<T, 96>(p, s);
      break;
    default:
      launch_bwd_tc<T, 128>(p, s);
  }
}

}  // namespace

int bwd_tensor_cores_ld(int dtype, int head_dim, bool vec) {
  if (dtype == JSW_F32 || head_dim > 128 || !vec) return 0;
  return head_dim <= 64 ? 64 : head_dim <= 96 ? 96 : 128;
}

void bwd_tensor_cores(int dtype, const Params& p, cudaStream_t s) {
  if (dtype == JSW_BF16)
    launch_bwd_tc_for_head_dim<__nv_bfloat16>(p, s);
  else
    launch_bwd_tc_for_head_dim<__half>(p, s);
}

}  // namespace attn
}  // namespace cuda
}  // namespace jsw
