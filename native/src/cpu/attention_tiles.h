// The tile kernels of the CPU flash attention, for one instruction set. attention_isa.cpp includes this file
// once per instruction set, inside a namespace that defines kW (floats per SIMD vector) and kMR (rows per
// register micro-tile) and under the matching `#pragma GCC target`, so that the same source becomes AVX2 and
// AVX-512 code. Hence no include guard, and no #include here: the includer brings every header first.
//
// Every tile product is C (=|+=) A B with B and C row-major fp32 tile buffers whose column count is a multiple
// of kW, and A read as A(i, k) = A[i * sai + k * sak]: a plain or transposed A costs the same scalar broadcast,
// so only B operands are ever transposed (Q^T once per query block in the forward, K^T and V^T once per key
// block in the backward), never a score tile.

typedef float Vec __attribute__((vector_size(kW * sizeof(float))));

inline Vec vload(const float* p) {
  Vec v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void vstore(float* p, const Vec& v) { std::memcpy(p, &v, sizeof v); }

// MR x (NV * kW) block of C held in registers over the whole k loop.
template <int MR, int NV>
inline void micro(int64_t K, const float* A, int64_t sai, int64_t sak, const float* B, int64_t ldb, float* C,
                  int64_t ldc, bool acc) {
  Vec c[MR][NV];
  for (int r = 0; r < MR; r++)
    for (int v = 0; v < NV; v++) c[r][v] = acc ? vload(C + r * ldc + v * kW) : Vec{};
  for (int64_t k = 0; k < K; k++) {
    Vec b[NV];
    for (int v = 0; v < NV; v++) b[v] = vload(B + k * ldb + v * kW);
    const float* ak = A + k * sak;
    for (int r = 0; r < MR; r++) {
      float a = ak[r * sai];
      for (int v = 0; v < NV; v++) c[r][v] += a * b[v];
    }
  }
  for (int r = 0; r < MR; r++)
    for (int v = 0; v < NV; v++) vstore(C + r * ldc + v * kW, c[r][v]);
}

// The last rem (< kMR) rows.
template <int NV, int R>
inline void micro_tail(int64_t rem, int64_t K, const float* A, int64_t sai, int64_t sak, const float* B,
                       int64_t ldb, float* C, int64_t ldc, bool acc) {
  if constexpr (R > 0) {
    if (rem == R)
      micro<R, NV>(K, A, sai, sak, B, ldb, C, ldc, acc);
    else
      micro_tail<NV, R - 1>(rem, K, A, sai, sak, B, ldb, C, ldc, acc);
  }
}

template <int NV>
inline void gemm_panel(int64_t M, int64_t K, const float* A, int64_t sai, int64_t sak, const float* B, int64_t ldb,
                       float* C, int64_t ldc, bool acc) {
  int64_t i = 0;
  for (; i + kMR <= M; i += kMR) micro<kMR, NV>(K, A + i * sai, sai, sak, B, ldb, C + i * ldc, ldc, acc);
  micro_tail<NV, kMR - 1>(M - i, K, A + i * sai, sai, sak, B, ldb, C + i * ldc, ldc, acc);
}

// C[M, N] (= or += when acc) sum_k A(i, k) B[k, :]. N is a multiple of kW. Column panels outermost, so one
// K x 2kW panel of B stays in L1 while every row block of A streams past it.
inline void gemm(int64_t M, int64_t N, int64_t K, const float* A, int64_t sai, int64_t sak, const float* B,
                 int64_t ldb, float* C, int64_t ldc, bool acc) {
  if (M <= 0) return;
  int64_t j = 0;
  for (; j + 2 * kW <= N; j += 2 * kW) gemm_panel<2>(M, K, A, sai, sak, B + j, ldb, C + j, ldc, acc);
  if (j < N) gemm_panel<1>(M, K, A, sai, sak, B + j, ldb, C + j, ldc, acc);
}

typedef int32_t IVec __attribute__((vector_size(kW * sizeof(int32_t))));

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

inline Vec splat(float x) { return Vec{} + x; }

// e^x per lane, about 1 ulp for x in [-87.3, 88], exactly 0 below (so e^-inf = 0): Cephes' polynomial on
// x - n ln 2, then 2^n through the exponent bits. Written on vectors rather than left to the auto-vectoriser,
// which does not if-convert the clamps for AVX2 under the default -ftrapping-math.
inline Vec vexp(Vec x) {
  const Vec lo = splat(-87.3f), hi = splat(88.0f);
  Vec xc = x < lo ? lo : x;
  xc = xc > hi ? hi : xc;
  Vec n = xc * 1.44269504088896341f + 12582912.0f;  // + 1.5 * 2^23 rounds to an integer
  n -= 12582912.0f;
  Vec r = xc - n * 0.693359375f;
  r -= n * -2.12194440e-4f;
  Vec p = splat(1.9875691500e-4f);
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  IVec bits = (__builtin_convertvector(n, IVec) + 127) << 23;
  Vec y = p * (Vec)bits;  // same-size vector cast: reinterprets the bits
  return x < lo ? Vec{} : y;
}

// ---- softmax pieces, on whole vectors (n is a multiple of kW) ---------------------------------------------

// acc[i] = max(acc[i], row[i])
inline void column_max(const float* row, float* acc, int64_t n) {
  for (int64_t i = 0; i < n; i += kW) {
    Vec r = vload(row + i), a = vload(acc + i);
    vstore(acc + i, r > a ? r : a);
  }
}

// FA2's online-softmax step per query: tile max in alpha -> new running max m, the exponent offset mu (0 while
// the max is still -inf, so that exp(-inf - mu) = 0 rather than NaN), and alpha = exp(old m - mu), which
// rescales the running sum l here and the output accumulator in the caller.
inline void online_update(float* alpha, float* m, float* mu, float* l, int64_t n) {
  for (int64_t i = 0; i < n; i += kW) {
    Vec tile = vload(alpha + i), old = vload(m + i);
    Vec mnew = tile > old ? tile : old;
    Vec off = mnew == splat(kNegInf) ? Vec{} : mnew;
    Vec a = vexp(old - off);
    vstore(mu + i, off);
    vstore(alpha + i, a);
    vstore(m + i, mnew);
    vstore(l + i, vload(l + i) * a);
  }
}

// row[i] = exp(row[i] - mu[i]); l[i] += row[i]
inline void exp_row(float* row, const float* mu, float* l, int64_t n) {
  for (int64_t i = 0; i < n; i += kW) {
    Vec p = vexp(vload(row + i) - vload(mu + i));
    vstore(row + i, p);
    vstore(l + i, vload(l + i) + p);
  }
}

// One query row of the backward: p[j] = exp(scale s[j] - lse) over the visible keys [jlo, jhi) that are not
// padding (kadd[j] = -inf), else 0; then ds[j] = p[j] (dp[j] - delta). p holds s on entry, ds holds dp.
inline void probs_and_grads(float* p, float* ds, const float* kadd, int64_t jlo, int64_t jhi, float scale, float lse,
                            float delta, int64_t n) {
  IVec lane;
  for (int e = 0; e < kW; e++) lane[e] = e;
  const IVec vlo = IVec{} + int32_t(jlo), vhi = IVec{} + int32_t(jhi);
  for (int64_t j = 0; j < n; j += kW) {
    const IVec idx = lane + int32_t(j);
    Vec x = vload(p + j) * scale - lse + vload(kadd + j);
    x = (idx >= vlo) & (idx < vhi) ? x : splat(kNegInf);
    Vec pj = vexp(x);
    vstore(p + j, pj);
    vstore(ds + j, pj * (vload(ds + j) - delta));
  }
}

// Copies rows x cols of a strided storage-type matrix into fp32 rows of length ld, zero-filling [cols, ld).
template <class T>
inline void load_rows(const T* src, int64_t src_ld, int64_t rows, int64_t cols, float* dst, int64_t ld) {
  for (int64_t r = 0; r < rows; r++) {
    const T* s = src + r * src_ld;
    float* d = dst + r * ld;
#pragma omp simd
    for (int64_t c = 0; c < cols; c++) d[c] = to_float(s[c]);
    for (int64_t c = cols; c < ld; c++) d[c] = 0.0f;
  }
}

// ---- forward ---------------------------------------------------------------------------------------------
// One query block against its visible key blocks, FA2's online softmax. The block is kept transposed
// (S^T = K Q^T, keys x queries) so that the softmax statistics of the queries are vector lanes: column max,
// rescale and row sums all vectorise without a transpose of the scores, and P^T serves the P V product as an
// A(i, k) = P^T[k][i] operand.
template <class T>
void fwd_item(const AttentionShape& s, const void* qv, const void* kv, const void* vv, void* outv, float* lse,
              int64_t b, int64_t h, int64_t q0, float* ws) {
  constexpr int64_t BQ = kBlockQ, BK = kBlockK;
  const Geometry g{s};
  const T* q = static_cast<const T*>(qv);
  const T* k = static_cast<const T*>(kv);
  const T* v = static_cast<const T*>(vv);
  T* out = static_cast<T*>(outv);
  const int64_t D = s.head_dim, Dv = round_up(D, kW), H = s.heads, KH = s.kv_heads;
  const int64_t kvh = h / g.group(), start = g.start(b), len = g.length(b);
  const int64_t nq = std::min(BQ, len - q0);
  const int32_t* mask = g.mask(b);

  float* qt = ws;             // [D][BQ]   scale * Q^T, zero columns for missing queries
  float* kf = qt + D * BQ;    // [BK][D]   K as fp32 (16-bit storage only)
  float* vf = kf + BK * D;    // [BK][Dv]  V as fp32, zero-padded columns
  float* st = vf + BK * Dv;   // [BK][BQ]  S^T, then P^T
  float* o = st + BK * BQ;    // [BQ][Dv]  unnormalised output
  float* m = o + BQ * Dv;     // running max of each query's scaled scores
  float* l = m + BQ;          // running sum of exp(score - m)
  float* mu = l + BQ;         // this tile's exponent offset per query (m, or 0 while m is -inf)
  float* alpha = mu + BQ;     // column max of the tile, then the rescale factor of the earlier tiles

  for (int64_t d = 0; d < D; d++) {
    float* row = qt + d * BQ;
    for (int64_t i = 0; i < nq; i++) row[i] = s.scale * to_float(q[((start + q0 + i) * H + h) * D + d]);
    for (int64_t i = nq; i < BQ; i++) row[i] = 0.0f;
  }
  std::fill(o, o + BQ * Dv, 0.0f);
  for (int64_t i = 0; i < BQ; i++) {
    m[i] = kNegInf;
    l[i] = 0.0f;
  }

  int64_t klo, khi;
  g.keys_for(q0, q0 + nq, len, &klo, &khi);
  for (int64_t k0 = klo; k0 < khi; k0 += BK) {
    const int64_t nk = std::min(BK, khi - k0);
    const T* krow = k + ((start + k0) * KH + kvh) * D;
    const float* ka;
    int64_t lda;
    if constexpr (std::is_same<T, float>::value) {
      ka = krow;  // fp32 keys are read in place
      lda = KH * D;
    } else {
      load_rows(krow, KH * D, nk, D, kf, D);
      ka = kf;
      lda = D;
    }
    load_rows(v + ((start + k0) * KH + kvh) * D, KH * D, nk, D, vf, Dv);

    gemm(nk, BQ, D, ka, lda, 1, qt, BQ, st, BQ, false);

    if (!g.tile_full(q0, q0 + nq, k0, k0 + nk)) {
      for (int64_t j = 0; j < nk; j++) {
        const int64_t key = k0 + j;
        // queries q0 + i that see this key: i in [ilo, ihi)
        int64_t ilo = s.causal ? std::max<int64_t>(0, key - q0) : 0;
        int64_t ihi = s.window > 0 ? key - q0 + s.window : BQ;
        if (mask != nullptr && mask[key] == 0) ilo = BQ;
        ilo = std::min(ilo, BQ);
        ihi = std::max(ilo, std::min(ihi, BQ));
        float* row = st + j * BQ;
        for (int64_t i = 0; i < ilo; i++) row[i] = kNegInf;
        for (int64_t i = ihi; i < BQ; i++) row[i] = kNegInf;
      }
    }

    for (int64_t i = 0; i < BQ; i++) alpha[i] = kNegInf;
    for (int64_t j = 0; j < nk; j++) column_max(st + j * BQ, alpha, BQ);
    online_update(alpha, m, mu, l, BQ);
    for (int64_t j = 0; j < nk; j++) exp_row(st + j * BQ, mu, l, BQ);
    for (int64_t i = 0; i < nq; i++) {
      if (alpha[i] == 1.0f) continue;
      float* orow = o + i * Dv;
      const float a = alpha[i];
#pragma omp simd
      for (int64_t d = 0; d < Dv; d++) orow[d] *= a;
    }
    gemm(nq, Dv, nk, st, 1, BQ, vf, Dv, o, Dv, true);
  }

  for (int64_t i = 0; i < nq; i++) {
    const int64_t row = (start + q0 + i) * H + h;
    T* orow = out + row * D;
    const float* acc = o + i * Dv;
    if (l[i] > 0.0f) {
      const float inv = 1.0f / l[i];
      for (int64_t d = 0; d < D; d++) orow[d] = from_float<T>(acc[d] * inv);
      lse[row] = m[i] + std::log(l[i]);
    } else {  // the query sees no key
      for (int64_t d = 0; d < D; d++) orow[d] = from_float<T>(0.0f);
      lse[row] = kNegInf;
    }
  }
}

// ---- backward --------------------------------------------------------------------------------------------
// FA2's backward for one (sequence, group of query heads sharing a kv head): key blocks outermost, so dK and
// dV of a block accumulate in the workspace over every query block and head that sees it; per tile the
// scores are recomputed from Q, K and the forward's lse:
//   P = exp(scale Q K^T - lse), dP = dO V^T, dS = P (dP - delta), dV += P^T dO, dK += scale dS^T Q,
//   dQ += scale dS K (added to the fp32 dq_acc rows of this item's heads, which no other item touches).
template <class T>
void bwd_item(const AttentionShape& s, const void* qv, const void* kv, const void* vv, const void* dov,
              const float* lse, const float* delta, float* dq_acc, void* dkv, void* dvv, bool kv_out, int64_t b,
              int64_t h0, int64_t h1, float* ws) {
  constexpr int64_t BQ = kBlockQ, BK = kBlockK;
  const Geometry g{s};
  const T* q = static_cast<const T*>(qv);
  const T* k = static_cast<const T*>(kv);
  const T* v = static_cast<const T*>(vv);
  const T* dout = static_cast<const T*>(dov);
  const int64_t D = s.head_dim, Dv = round_up(D, kW), H = s.heads, KH = s.kv_heads;
  const int64_t kvh = h0 / g.group(), start = g.start(b), len = g.length(b);
  const int32_t* mask = g.mask(b);
  const float scale = s.scale;

  float* kt = ws;              // [D][BK]   K^T (zero columns past the block)
  float* vt = kt + D * BK;     // [D][BK]   V^T
  float* kp = vt + D * BK;     // [BK][Dv]  K
  float* dka = kp + BK * Dv;   // [BK][Dv]  dK / scale
  float* dva = dka + BK * Dv;  // [BK][Dv]  dV
  float* qp = dva + BK * Dv;   // [BQ][Dv]  Q
  float* dop = qp + BQ * Dv;   // [BQ][Dv]  dO
  float* dqt = dop + BQ * Dv;  // [BQ][Dv]  dQ / scale of one tile
  float* p = dqt + BQ * Dv;    // [BQ][BK]  S, then P
  float* ds = p + BQ * BK;     // [BQ][BK]  dP, then dS
  float* lr = ds + BQ * BK;    // [BQ]      lse of the tile's queries
  float* dr = lr + BQ;         // [BQ]      delta of the tile's queries
  float* kadd = dr + BQ;       // [BK]      0 for a usable key, -inf for padding / past the block

  for (int64_t k0 = 0; k0 < len; k0 += BK) {
    const int64_t nk = std::min(BK, len - k0);
    load_rows(k + ((start + k0) * KH + kvh) * D, KH * D, nk, D, kp, Dv);
    load_rows(v + ((start + k0) * KH + kvh) * D, KH * D, nk, D, dva, Dv);  // V, staged in dva
    for (int64_t d = 0; d < D; d++) {
      for (int64_t j = 0; j < nk; j++) {
        kt[d * BK + j] = kp[j * Dv + d];
        vt[d * BK + j] = dva[j * Dv + d];
      }
      for (int64_t j = nk; j < BK; j++) kt[d * BK + j] = vt[d * BK + j] = 0.0f;
    }
    for (int64_t j = 0; j < BK; j++) kadd[j] = j < nk && (mask == nullptr || mask[k0 + j] != 0) ? 0.0f : kNegInf;
    std::fill(dka, dka + BK * Dv, 0.0f);
    std::fill(dva, dva + BK * Dv, 0.0f);

    int64_t qlo, qhi;
    g.queries_for(k0, k0 + nk, len, &qlo, &qhi);
    for (int64_t h = h0; h < h1 && qlo < qhi; h++) {
      for (int64_t q0 = qlo; q0 < qhi; q0 += BQ) {
        const int64_t nq = std::min(BQ, qhi - q0);
        const int64_t row0 = (start + q0) * H + h;
        load_rows(q + row0 * D, H * D, nq, D, qp, Dv);
        load_rows(dout + row0 * D, H * D, nq, D, dop, Dv);
        for (int64_t i = 0; i < nq; i++) {
          lr[i] = lse[row0 + i * H];
          dr[i] = delta[row0 + i * H];
        }
        gemm(nq, BK, D, qp, Dv, 1, kt, BK, p, BK, false);    // S = Q K^T
        gemm(nq, BK, D, dop, Dv, 1, vt, BK, ds, BK, false);  // dP = dO V^T
        const bool full = g.tile_full(q0, q0 + nq, k0, k0 + nk);
        for (int64_t i = 0; i < nq; i++) {
          int64_t jlo = 0, jhi = nk;
          if (!full) {
            g.row_keys(q0 + i, k0, k0 + nk, &jlo, &jhi);
            jlo -= k0;
            jhi -= k0;
          }
          const float L = lr[i], dl = dr[i];
          if (L == kNegInf) jhi = jlo;  // the query saw no key: no probability, no gradient
          probs_and_grads(p + i * BK, ds + i * BK, kadd, jlo, jhi, scale, L, dl, BK);
        }
        gemm(nk, Dv, nq, p, 1, BK, dop, Dv, dva, Dv, true);   // dV += P^T dO
        gemm(nk, Dv, nq, ds, 1, BK, qp, Dv, dka, Dv, true);   // dK += dS^T Q
        gemm(nq, Dv, nk, ds, BK, 1, kp, Dv, dqt, Dv, false);  // dQ = dS K
        for (int64_t i = 0; i < nq; i++) {
          float* dst = dq_acc + (row0 + i * H) * D;
          const float* src = dqt + i * Dv;
#pragma omp simd
          for (int64_t d = 0; d < D; d++) dst[d] += scale * src[d];
        }
      }
    }

    for (int64_t j = 0; j < nk; j++) {
      const float* dkr = dka + j * Dv;
      const float* dvr = dva + j * Dv;
      if (kv_out) {
        T* dkd = static_cast<T*>(dkv) + ((start + k0 + j) * KH + kvh) * D;
        T* dvd = static_cast<T*>(dvv) + ((start + k0 + j) * KH + kvh) * D;
        for (int64_t d = 0; d < D; d++) {
          dkd[d] = from_float<T>(scale * dkr[d]);
          dvd[d] = from_float<T>(dvr[d]);
        }
      } else {
        float* dkd = static_cast<float*>(dkv) + ((start + k0 + j) * H + h0) * D;
        float* dvd = static_cast<float*>(dvv) + ((start + k0 + j) * H + h0) * D;
        for (int64_t d = 0; d < D; d++) {
          dkd[d] = scale * dkr[d];
          dvd[d] = dvr[d];
        }
      }
    }
  }
}
