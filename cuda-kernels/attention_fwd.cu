// Flash-attention forward on CUDA, the twin of native/src/cpu/attention_fwd.cpp (FA2's algorithm). bf16 / f16
// on rows of 16-byte vectors run the tensor-core kernel of attention_fwd_tc.cu; this file holds the generic
// kernel, which runs fp32 and the other calls.
// One block of 4 warps per (sequence, query head, 64 queries); each warp owns 16 query rows. Per key block
// of kBk keys (staged in shared memory, skipped whole when causality or the window hides it):
//   S = Q K^T (tensor cores for bf16/f16), scaled into log2 units and masked, online softmax
//   (running max m, running sum l, rescale of the O accumulator), then O += P V with P taken straight from
//   the S registers. O, m, l stay in registers; at the end out = O / l and lse = (m + log2 l) ln 2.
#include "attention_common.cuh"

namespace jsw {
namespace cuda {

namespace {

using namespace attn;

constexpr int kFwdWarps = 4;
constexpr int kFwdRows = 16 * kFwdWarps;

template <class T, int kDp>
constexpr int fwd_block_k() {
  return kDp > 128 ? 32 : 64;  // keeps registers (O: kDp / 2 floats per thread) and shared memory in bounds
}

template <class T, int kDp>
constexpr size_t fwd_smem() {
  return size_t(kFwdRows + 2 * fwd_block_k<T, kDp>()) * smem_ld<T, kDp>() * sizeof(T);
}

template <class T, int kDp>
__global__ void __launch_bounds__(32 * kFwdWarps) attention_fwd_kernel(Params p) {
  constexpr int kBk = fwd_block_k<T, kDp>(), kLd = smem_ld<T, kDp>();
  extern __shared__ __align__(16) unsigned char smem_raw[];
  T* qs = reinterpret_cast<T*>(smem_raw);
  T* ks = qs + kFwdRows * kLd;
  T* vs = ks + kBk * kLd;

  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  const int b = blockIdx.x / p.heads, h = blockIdx.x % p.heads;
  const Seq sq = sequence(p, b);
  const int q0 = blockIdx.y * kFwdRows;
  if (q0 >= sq.len) return;  // uniform over the block
  const int len = sq.len, kvh = h / p.group, D = p.head_dim, Dp = round_up16(D);
  const int32_t* mask = p.key_mask ? p.key_mask + int64_t(b) * p.seq_len : nullptr;
  const T* q = static_cast<const T*>(p.q);
  const T* k = static_cast<const T*>(p.k);
  const T* v = static_cast<const T*>(p.v);
  const int64_t qld = int64_t(p.heads) * D, kld = int64_t(p.kv_heads) * D;

  load_tile(qs, kLd, q + ((sq.start + q0) * p.heads + h) * D, qld, min(kFwdRows, len - q0), kFwdRows, D, Dp,
            p.vec_loads);

  const int r0 = q0 + 16 * warp + g, r1 = r0 + 8;  // this lane's two query rows
  const int qlast = min(q0 + kFwdRows, len) - 1;
  int klo = p.window > 0 ? int(max(int64_t(0), int64_t(q0) - p.window + 1)) : 0;
  klo = klo / kBk * kBk;
  const int khi = p.causal ? qlast + 1 : len;

  float o[kDp / 8][4];
#pragma unroll
  for (int nt = 0; nt < kDp / 8; nt++) o[nt][0] = o[nt][1] = o[nt][2] = o[nt][3] = 0.0f;
  float m0 = -INFINITY, m1 = -INFINITY, l0 = 0.0f, l1 = 0.0f;

  for (int k0 = klo; k0 < khi; k0 += kBk) {
    __syncthreads();  // the previous K/V tiles are consumed (and the Q tile is complete)
    const int nk = min(kBk, len - k0);
    load_tile(ks, kLd, k + ((sq.start + k0) * p.kv_heads + kvh) * D, kld, nk, kBk, D, Dp, p.vec_loads);
    load_tile(vs, kLd, v + ((sq.start + k0) * p.kv_heads + kvh) * D, kld, nk, kBk, D, Dp, p.vec_loads);
    __syncthreads();

    float s[kBk / 8][4];
#pragma unroll
    for (int nt = 0; nt < kBk / 8; nt++) s[nt][0] = s[nt][1] = s[nt][2] = s[nt][3] = 0.0f;
    mma_rows<T, kBk / 8>(s, kBk / 8, qs + 16 * warp * kLd, kLd, ks, kLd, Dp / 16);

    const bool full = mask == nullptr && nk == kBk && (!p.causal || k0 + kBk - 1 <= q0) &&
                      (p.window <= 0 || int64_t(qlast) - k0 < p.window);
    float mx0 = -INFINITY, mx1 = -INFINITY;
#pragma unroll
    for (int nt = 0; nt < kBk / 8; nt++) {
#pragma unroll
      for (int e = 0; e < 4; e++) {
        float x = s[nt][e] * p.scale_log2;
        if (!full && !visible(p, mask, e < 2 ? r0 : r1, k0 + 8 * nt + 2 * t + (e & 1), len)) x = -INFINITY;
        s[nt][e] = x;
      }
      mx0 = fmaxf(mx0, fmaxf(s[nt][0], s[nt][1]));
      mx1 = fmaxf(mx1, fmaxf(s[nt][2], s[nt][3]));
    }
    mx0 = quad_max(mx0);
    mx1 = quad_max(mx1);
    // Online softmax; the exponent offset stays 0 while a row has seen no key, so exp2(-inf - 0) = 0.
    const float n0 = fmaxf(m0, mx0), n1 = fmaxf(m1, mx1);
    const float u0 = n0 == -INFINITY ? 0.0f : n0, u1 = n1 == -INFINITY ? 0.0f : n1;
    const float a0 = exp2f(m0 - u0), a1 = exp2f(m1 - u1);
    m0 = n0;
    m1 = n1;
    l0 *= a0;
    l1 *= a1;
#pragma unroll
    for (int nt = 0; nt < kBk / 8; nt++) {
      s[nt][0] = exp2f(s[nt][0] - u0);
      s[nt][1] = exp2f(s[nt][1] - u0);
      s[nt][2] = exp2f(s[nt][2] - u1);
      s[nt][3] = exp2f(s[nt][3] - u1);
      l0 += s[nt][0] + s[nt][1];  // this lane's columns only; the quad sums at the end
      l1 += s[nt][2] + s[nt][3];
    }
#pragma unroll
    for (int nt = 0; nt < kDp / 8; nt++) {
      o[nt][0] *= a0;
      o[nt][1] *= a0;
      o[nt][2] *= a1;
      o[nt][3] *= a1;
    }
#pragma unroll
    for (int kk = 0; kk < kBk / 16; kk++)
      mma_regs<T, kDp / 8>(o, Dp / 8, s[2 * kk], s[2 * kk + 1], vs + 16 * kk * kLd, kLd);
  }

  l0 = quad_sum(l0);
  l1 = quad_sum(l1);
  T* out = static_cast<T*>(p.out_w);
#pragma unroll
  for (int half = 0; half < 2; half++) {
    const int r = half == 0 ? r0 : r1;
    if (r >= len) continue;
    const float l = half == 0 ? l0 : l1, m = half == 0 ? m0 : m1;
    const float inv = l > 0.0f ? 1.0f / l : 0.0f;
    const int64_t row = (sq.start + r) * p.heads + h;
    T* orow = out + row * D;
#pragma unroll
    for (int nt = 0; nt < kDp / 8; nt++) {
      const int c = 8 * nt + 2 * t;
      if (c < D) orow[c] = from_f<T>(o[nt][2 * half] * inv);
      if (c + 1 < D) orow[c + 1] = from_f<T>(o[nt][2 * half + 1] * inv);
    }
    if (t == 0) p.lse_w[row] = l > 0.0f ? (m + log2f(l)) * kLn2 : -INFINITY;
  }
}

template <class T, int kDp>
void launch_fwd(const Params& p, cudaStream_t s) {
  const size_t smem = fwd_smem<T, kDp>();
  allow_smem(attention_fwd_kernel<T, kDp>, smem);
  dim3 grid(unsigned(p.batch) * unsigned(p.heads), unsigned((p.seq_len + kFwdRows - 1) / kFwdRows));
  attention_fwd_kernel<T, kDp><<<grid, 32 * kFwdWarps, smem, s>>>(p);
  check_launch("attention_fwd_kernel");
}

}  // namespace

void attention_fwd(int device, int dtype, const AttentionShape& shape, const void* q, const void* k, const void* v,
                   void* out, float* lse) {
  cudaStream_t s = stream(device);
  Params p = make_params(shape, error_flag(device));
  p.q = q;
  p.k = k;
  p.v = v;
  p.out_w = out;
  p.lse_w = lse;
  p.vec_loads = rows_aligned(dtype, shape.head_dim, {q, k, v, out});
  // Both kernels have query blocks of at least 64 rows.
  require((p.seq_len + kFwdRows - 1) / kFwdRows <= 65535, "jsw_attention_fwd", "seq_len above %d is not supported",
          65535 * kFwdRows);
  if ((dtype == JSW_BF16 || dtype == JSW_F16) && p.vec_loads) {
    attn::fwd_tensor_cores(dtype, p, s);
    return;
  }
  JSW_CUDA_DISPATCH_FLOAT(dtype, "jsw_attention_fwd", {
    if (p.head_dim <= 64)
      launch_fwd<T, 64>(p, s);
    else if (p.head_dim <= 128)
      launch_fwd<T, 128>(p, s);
    else
      launch_fwd<T, 256>(p, s);
  });
}

}  // namespace cuda
}  // namespace jsw
