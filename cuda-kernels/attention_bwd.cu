// Flash-attention backward on CUDA, the twin of native/src/cpu/attention_bwd.cpp (FA2's algorithm). bf16 / f16
// up to head_dim 128 with rows of 16-byte vectors run the tensor-core kernel of attention_bwd_tc.cu (5 tile
// products, dQ by fp32 reductions); the other calls run the generic kernels here, three on the stream:
//   1. delta = rowsum(dout * out) per (query, head), fp32 scratch (the tensor-core path needs it too);
//   2. dQ: one block per (sequence, query head, query block), shaped like the forward: per key block it
//      recomputes S = Q K^T and dP = dO V^T, P = exp(scale S - lse), dS = P (dP - delta), dQ += dS K in
//      registers, and writes dQ once;
//   3. dK/dV: one block per (sequence, kv head, key block), looping over the query heads of the group and
//      their query blocks: S^T = K Q^T, dP^T = V dO^T, dV += P^T dO, dK += dS^T Q in registers, written once.
// The generic dQ has its own pass (recomputing S and dP: 7 tile products instead of 5) rather than fp32
// reductions: no [tokens, heads, head_dim] fp32 scratch and a deterministic result, for the paths where speed
// matters less. GQA needs no reduction either: a dK/dV block owns its kv head's rows and sums the group inside.
#include "attention_common.cuh"

namespace jsw {
namespace cuda {

namespace {

using namespace attn;

// ---- 1. delta ---------------------------------------------------------------------------------------------

constexpr int kDeltaWarps = 8;

// delta[(b * seq_len + i) * heads + h] = sum_d dout * out, one warp per row. For the tensor-core backward it
// also zeroes the row's dQ accumulator (same row index), which saves a memset pass.
template <class T>
__global__ void attention_delta_kernel(Params p) {
  const int64_t row = int64_t(blockIdx.x) * kDeltaWarps + (threadIdx.x >> 5);
  const int lane = threadIdx.x & 31;
  int64_t token;
  int h;
  if (!query_row(p, row, &token, &h)) return;
  const int64_t r = token * p.heads + h;
  const T* o = static_cast<const T*>(p.out) + r * p.head_dim;
  const T* d = static_cast<const T*>(p.dout) + r * p.head_dim;
  float acc = 0.0f;
  if (p.vec_loads) {  // 16-byte aligned rows, head_dim a multiple of the vector
    constexpr int E = 16 / int(sizeof(T));
    for (int c = E * lane; c < p.head_dim; c += 32 * E) {
      const uint4 ov = *reinterpret_cast<const uint4*>(o + c), dv = *reinterpret_cast<const uint4*>(d + c);
      T oe[E], de[E];
      memcpy(oe, &ov, 16);
      memcpy(de, &dv, 16);
#pragma unroll
      for (int e = 0; e < E; e++) acc += to_f(oe[e]) * to_f(de[e]);
    }
  } else {
    for (int c = lane; c < p.head_dim; c += 32) acc += to_f(o[c]) * to_f(d[c]);
  }
  acc = warp_sum(acc);
  if (lane == 0) p.delta_w[row] = acc;
  if (p.dq_acc != nullptr) {  // dq_ld is a multiple of 16 floats
    float4* z = reinterpret_cast<float4*>(p.dq_acc + row * p.dq_ld);
    for (int c = lane; c < p.dq_ld / 4; c += 32) z[c] = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
  }
}

// ---- 2. dQ ------------------------------------------------------------------------------------------------

template <class T, int kDp>
constexpr int dq_warps() {
  return kDp > 128 && sizeof(T) == 4 ? 2 : 4;  // fp32 head_dim 256: 4 tiles of 32 x 260 floats fit in 133 KiB
}
template <class T, int kDp>
constexpr int dq_block_k() {
  return kDp > 128 ? 32 : 64;
}
template <class T, int kDp>
constexpr size_t dq_smem() {
  return size_t(2 * 16 * dq_warps<T, kDp>() + 2 * dq_block_k<T, kDp>()) * smem_ld<T, kDp>() * sizeof(T);
}

template <class T, int kDp>
__global__ void __launch_bounds__(32 * dq_warps<T, kDp>()) attention_dq_kernel(Params p) {
  constexpr int kRows = 16 * dq_warps<T, kDp>(), kBk = dq_block_k<T, kDp>(), kLd = smem_ld<T, kDp>();
  extern __shared__ __align__(16) unsigned char smem_raw[];
  T* qs = reinterpret_cast<T*>(smem_raw);
  T* dos = qs + kRows * kLd;
  T* ks = dos + kRows * kLd;
  T* vs = ks + kBk * kLd;

  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  const int b = blockIdx.x / p.heads, h = blockIdx.x % p.heads;
  const Seq sq = sequence(p, b);
  const int q0 = blockIdx.y * kRows;
  if (q0 >= sq.len) return;  // uniform over the block
  const int len = sq.len, kvh = h / p.group, D = p.head_dim, Dp = round_up16(D);
  const int32_t* mask = p.key_mask ? p.key_mask + int64_t(b) * p.seq_len : nullptr;
  const int64_t qld = int64_t(p.heads) * D, kld = int64_t(p.kv_heads) * D;
  const int64_t qoff = ((sq.start + q0) * p.heads + h) * D;
  load_tile(qs, kLd, static_cast<const T*>(p.q) + qoff, qld, min(kRows, len - q0), kRows, D, Dp, p.vec_loads);
  load_tile(dos, kLd, static_cast<const T*>(p.dout) + qoff, qld, min(kRows, len - q0), kRows, D, Dp, p.vec_loads);

  const int r0 = q0 + 16 * warp + g, r1 = r0 + 8;
  // lse in log2 units; -inf (no key seen, or no such row) turns every probability of the row into 0
  const float L0 = r0 < len ? p.lse[(sq.start + r0) * p.heads + h] * kLog2e : -INFINITY;
  const float L1 = r1 < len ? p.lse[(sq.start + r1) * p.heads + h] * kLog2e : -INFINITY;
  const float d0 = r0 < len ? p.delta[(int64_t(b) * p.seq_len + r0) * p.heads + h] : 0.0f;
  const float d1 = r1 < len ? p.delta[(int64_t(b) * p.seq_len + r1) * p.heads + h] : 0.0f;

  const int qlast = min(q0 + kRows, len) - 1;
  int klo = p.window > 0 ? int(max(int64_t(0), int64_t(q0) - p.window + 1)) : 0;
  klo = klo / kBk * kBk;
  const int khi = p.causal ? qlast + 1 : len;

  float dq[kDp / 8][4];
#pragma unroll
  for (int nt = 0; nt < kDp / 8; nt++) dq[nt][0] = dq[nt][1] = dq[nt][2] = dq[nt][3] = 0.0f;

  for (int k0 = klo; k0 < khi; k0 += kBk) {
    __syncthreads();  // the previous K/V tiles are consumed (and the Q/dO tiles are complete)
    const int nk = min(kBk, len - k0);
    load_tile(ks, kLd, static_cast<const T*>(p.k) + ((sq.start + k0) * p.kv_heads + kvh) * D, kld, nk, kBk, D, Dp,
              p.vec_loads);
    load_tile(vs, kLd, static_cast<const T*>(p.v) + ((sq.start + k0) * p.kv_heads + kvh) * D, kld, nk, kBk, D, Dp,
              p.vec_loads);
    __syncthreads();

    float s[kBk / 8][4], dp[kBk / 8][4];
#pragma unroll
    for (int nt = 0; nt < kBk / 8; nt++)
      s[nt][0] = s[nt][1] = s[nt][2] = s[nt][3] = dp[nt][0] = dp[nt][1] = dp[nt][2] = dp[nt][3] = 0.0f;
    mma_rows<T, kBk / 8>(s, kBk / 8, qs + 16 * warp * kLd, kLd, ks, kLd, Dp / 16);
    mma_rows<T, kBk / 8>(dp, kBk / 8, dos + 16 * warp * kLd, kLd, vs, kLd, Dp / 16);

    const bool full = mask == nullptr && nk == kBk && (!p.causal || k0 + kBk - 1 <= q0) &&
                      (p.window <= 0 || int64_t(qlast) - k0 < p.window);
#pragma unroll
    for (int nt = 0; nt < kBk / 8; nt++) {
#pragma unroll
      for (int e = 0; e < 4; e++) {
        const int i = e < 2 ? r0 : r1, j = k0 + 8 * nt + 2 * t + (e & 1);
        const float L = e < 2 ? L0 : L1;
        const bool on = L != -INFINITY && (full || visible(p, mask, i, j, len));
        const float pr = on ? exp2f(s[nt][e] * p.scale_log2 - L) : 0.0f;
        s[nt][e] = pr * (dp[nt][e] - (e < 2 ? d0 : d1));  // dS
      }
    }
#pragma unroll
    for (int kk = 0; kk < kBk / 16; kk++)
      mma_regs<T, kDp / 8>(dq, Dp / 8, s[2 * kk], s[2 * kk + 1], ks + 16 * kk * kLd, kLd);
  }

  T* out = static_cast<T*>(p.dq);
#pragma unroll
  for (int half = 0; half < 2; half++) {
    const int r = half == 0 ? r0 : r1;
    if (r >= len) continue;
    T* row = out + ((sq.start + r) * p.heads + h) * D;
#pragma unroll
    for (int nt = 0; nt < kDp / 8; nt++) {
      const int c = 8 * nt + 2 * t;
      if (c < D) row[c] = from_f<T>(p.scale * dq[nt][2 * half]);
      if (c + 1 < D) row[c + 1] = from_f<T>(p.scale * dq[nt][2 * half + 1]);
    }
  }
}

// ---- 3. dK / dV -------------------------------------------------------------------------------------------

constexpr int kDkvRowsQ = 32;  // queries per tile: S^T and dP^T take 16 floats each per lane

template <class T, int kDp>
constexpr int dkv_block_k() {
  return kDp > 128 && sizeof(T) == 4 ? 32 : 64;
}
// head_dim > 128: dK and dV of 16 keys would take kDp floats per lane, so two warps share each 16 keys, each
// owning half of head_dim (both compute the small S^T / dP^T).
template <int kDp>
constexpr int dkv_split() {
  return kDp > 128 ? 2 : 1;
}
template <class T, int kDp>
constexpr int dkv_warps() {
  return dkv_block_k<T, kDp>() / 16 * dkv_split<kDp>();
}
template <class T, int kDp>
constexpr size_t dkv_smem() {
  return 2 * kDkvRowsQ * sizeof(float) +
         size_t(2 * dkv_block_k<T, kDp>() + 2 * kDkvRowsQ) * smem_ld<T, kDp>() * sizeof(T);
}

template <class T, int kDp>
__global__ void __launch_bounds__(32 * dkv_warps<T, kDp>()) attention_dkv_kernel(Params p) {
  constexpr int kBk = dkv_block_k<T, kDp>(), kBq = kDkvRowsQ, kLd = smem_ld<T, kDp>();
  constexpr int kKeyWarps = kBk / 16, kNtPart = kDp / 8 / dkv_split<kDp>();
  extern __shared__ __align__(16) unsigned char smem_raw[];
  float* lse_s = reinterpret_cast<float*>(smem_raw);  // log2 units
  float* dl_s = lse_s + kBq;
  T* ks = reinterpret_cast<T*>(dl_s + kBq);
  T* vs = ks + kBk * kLd;
  T* qs = vs + kBk * kLd;
  T* dos = qs + kBq * kLd;

  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  const int kw = warp % kKeyWarps, part = warp / kKeyWarps;
  const int b = blockIdx.x / p.kv_heads, kvh = blockIdx.x % p.kv_heads;
  const Seq sq = sequence(p, b);
  const int k0 = blockIdx.y * kBk;
  if (k0 >= sq.len) return;  // uniform over the block
  const int len = sq.len, D = p.head_dim, Dp = round_up16(D), nk = min(kBk, len - k0);
  const int32_t* mask = p.key_mask ? p.key_mask + int64_t(b) * p.seq_len : nullptr;
  const int64_t qld = int64_t(p.heads) * D, kld = int64_t(p.kv_heads) * D;
  const int64_t koff = ((sq.start + k0) * p.kv_heads + kvh) * D;
  load_tile(ks, kLd, static_cast<const T*>(p.k) + koff, kld, nk, kBk, D, Dp, p.vec_loads);
  load_tile(vs, kLd, static_cast<const T*>(p.v) + koff, kld, nk, kBk, D, Dp, p.vec_loads);

  const int nt0 = part * kNtPart, nt_count = max(0, min(kNtPart, Dp / 8 - nt0));
  const int j0 = k0 + 16 * kw + g, j1 = j0 + 8;  // this lane's two key rows
  int qlo = p.causal ? k0 : 0;
  qlo = qlo / kBq * kBq;
  const int qhi = p.window > 0 ? int(min(int64_t(len), int64_t(k0) + nk - 1 + p.window)) : len;

  float dk[kNtPart][4], dv[kNtPart][4];
#pragma unroll
  for (int nt = 0; nt < kNtPart; nt++)
    dk[nt][0] = dk[nt][1] = dk[nt][2] = dk[nt][3] = dv[nt][0] = dv[nt][1] = dv[nt][2] = dv[nt][3] = 0.0f;

  for (int hh = 0; hh < p.group; hh++) {
    const int h = kvh * p.group + hh;
    for (int q0 = qlo; q0 < qhi; q0 += kBq) {
      __syncthreads();  // the previous Q/dO tiles are consumed (and the K/V tiles are complete)
      const int nq = min(kBq, len - q0);
      const int64_t qoff = ((sq.start + q0) * p.heads + h) * D;
      load_tile(qs, kLd, static_cast<const T*>(p.q) + qoff, qld, nq, kBq, D, Dp, p.vec_loads);
      load_tile(dos, kLd, static_cast<const T*>(p.dout) + qoff, qld, nq, kBq, D, Dp, p.vec_loads);
      for (int i = threadIdx.x; i < kBq; i += blockDim.x) {
        lse_s[i] = i < nq ? p.lse[(sq.start + q0 + i) * p.heads + h] * kLog2e : -INFINITY;
        dl_s[i] = i < nq ? p.delta[(int64_t(b) * p.seq_len + q0 + i) * p.heads + h] : 0.0f;
      }
      __syncthreads();

      float st[kBq / 8][4], dpt[kBq / 8][4];  // S^T and dP^T: rows = this warp's 16 keys, columns = queries
#pragma unroll
      for (int nt = 0; nt < kBq / 8; nt++)
        st[nt][0] = st[nt][1] = st[nt][2] = st[nt][3] = dpt[nt][0] = dpt[nt][1] = dpt[nt][2] = dpt[nt][3] = 0.0f;
      mma_rows<T, kBq / 8>(st, kBq / 8, ks + 16 * kw * kLd, kLd, qs, kLd, Dp / 16);
      mma_rows<T, kBq / 8>(dpt, kBq / 8, vs + 16 * kw * kLd, kLd, dos, kLd, Dp / 16);

      const bool full = mask == nullptr && nk == kBk && nq == kBq && (!p.causal || k0 + kBk - 1 <= q0) &&
                        (p.window <= 0 || int64_t(q0) + kBq - 1 - k0 < p.window);
#pragma unroll
      for (int nt = 0; nt < kBq / 8; nt++) {
#pragma unroll
        for (int e = 0; e < 4; e++) {
          const int col = 8 * nt + 2 * t + (e & 1), i = q0 + col, j = e < 2 ? j0 : j1;
          const float L = lse_s[col];
          const bool on = L != -INFINITY && (full || (i < len && visible(p, mask, i, j, len)));
          const float pr = on ? exp2f(st[nt][e] * p.scale_log2 - L) : 0.0f;
          st[nt][e] = pr;                           // P^T
          dpt[nt][e] = pr * (dpt[nt][e] - dl_s[col]);  // dS^T
        }
      }
#pragma unroll
      for (int kk = 0; kk < kBq / 16; kk++) {
        mma_regs<T, kNtPart>(dv, nt_count, st[2 * kk], st[2 * kk + 1], dos + 16 * kk * kLd + 8 * nt0, kLd);
        mma_regs<T, kNtPart>(dk, nt_count, dpt[2 * kk], dpt[2 * kk + 1], qs + 16 * kk * kLd + 8 * nt0, kLd);
      }
    }
  }

  T* dko = static_cast<T*>(p.dk);
  T* dvo = static_cast<T*>(p.dv);
#pragma unroll
  for (int half = 0; half < 2; half++) {
    const int j = half == 0 ? j0 : j1;
    if (j >= len) continue;
    const int64_t row = ((sq.start + j) * p.kv_heads + kvh) * D;
#pragma unroll
    for (int nt = 0; nt < kNtPart; nt++) {
      const int c = 8 * (nt0 + nt) + 2 * t;
      if (c < D) {
        dko[row + c] = from_f<T>(p.scale * dk[nt][2 * half]);
        dvo[row + c] = from_f<T>(dv[nt][2 * half]);
      }
      if (c + 1 < D) {
        dko[row + c + 1] = from_f<T>(p.scale * dk[nt][2 * half + 1]);
        dvo[row + c + 1] = from_f<T>(dv[nt][2 * half + 1]);
      }
    }
  }
}

template <class T, int kDp>
void launch_bwd(const Params& p, cudaStream_t s) {
  const size_t dq_bytes = dq_smem<T, kDp>(), dkv_bytes = dkv_smem<T, kDp>();
  allow_smem(attention_dq_kernel<T, kDp>, dq_bytes);
  allow_smem(attention_dkv_kernel<T, kDp>, dkv_bytes);
  constexpr int kRows = 16 * dq_warps<T, kDp>(), kBk = dkv_block_k<T, kDp>();
  dim3 dq_grid(unsigned(p.batch) * unsigned(p.heads), unsigned((p.seq_len + kRows - 1) / kRows));
  attention_dq_kernel<T, kDp><<<dq_grid, 32 * dq_warps<T, kDp>(), dq_bytes, s>>>(p);
  check_launch("attention_dq_kernel");
  dim3 dkv_grid(unsigned(p.batch) * unsigned(p.kv_heads), unsigned((p.seq_len + kBk - 1) / kBk));
  attention_dkv_kernel<T, kDp><<<dkv_grid, 32 * dkv_warps<T, kDp>(), dkv_bytes, s>>>(p);
  check_launch("attention_dkv_kernel");
}

// The generic kernels: fp32, bf16 / f16 above head_dim 128 or on rows that are not 16-byte vectors.
template <class T>
void launch_generic_bwd(const Params& p, cudaStream_t s) {
  if (p.head_dim <= 64)
    launch_bwd<T, 64>(p, s);
  else if (p.head_dim <= 128)
    launch_bwd<T, 128>(p, s);
  else
    launch_bwd<T, 256>(p, s);
}

}  // namespace

void attention_bwd(int device, int dtype, const AttentionShape& shape, const void* q, const void* k, const void* v,
                   const void* out, const void* dout, const float* lse, void* dq, void* dk, void* dv) {
  cudaStream_t s = stream(device);
  Params p = make_params(shape, error_flag(device));
  // The smallest query / key blocks are 32 rows: grid.y stays below 65536 up to 2M positions.
  require((p.seq_len + 31) / 32 <= 65535, "jsw_attention_bwd", "seq_len above %d is not supported", 65535 * 32);
  const int64_t rows = int64_t(p.batch) * p.seq_len * p.heads;
  require(rows / kDeltaWarps < INT32_MAX, "jsw_attention_bwd", "batch * seq_len * heads is too large");
  Scratch delta(device, rows * int64_t(sizeof(float)));
  p.q = q;
  p.k = k;
  p.v = v;
  p.out = out;
  p.dout = dout;
  p.lse = lse;
  p.delta = delta.as<float>();
  p.delta_w = delta.as<float>();
  p.dq = dq;
  p.dk = dk;
  p.dv = dv;
  p.vec_loads = rows_aligned(dtype, shape.head_dim, {q, k, v, out, dout, dq, dk, dv});
  const int acc_ld = attn::bwd_tensor_cores_ld(dtype, p.head_dim, p.vec_loads);
  Scratch acc(device, rows * acc_ld * int64_t(sizeof(float)));  // empty for the generic kernels
  p.dq_acc = acc.as<float>();
  p.dq_ld = acc_ld;
  JSW_CUDA_DISPATCH_FLOAT(dtype, "jsw_attention_bwd", {
    attention_delta_kernel<T><<<unsigned((rows + kDeltaWarps - 1) / kDeltaWarps), 32 * kDeltaWarps, 0, s>>>(p);
    check_launch("attention_delta_kernel");
    if (acc_ld > 0)
      attn::bwd_tensor_cores(dtype, p, s);
    else
      launch_generic_bwd<T>(p, s);
  });
}

}  // namespace cuda
}  // namespace jsw
