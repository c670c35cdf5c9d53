// The task kernel of the CPU decode attention, for one instruction set. attention_decode_isa.cpp includes this
// file once per instruction set, inside a namespace that defines kW (floats per SIMD vector), kNR (keys per
// score micro-tile; 4 * kNR == kW) and kNV (vectors per P V micro-tile), under the matching
// `#pragma GCC target`. Hence no include guard and no #include here: the includer brings every header first.
//
// A task: rows [row0, row0 + rows) of one (sequence, kv head) against keys [k0, k1), FA2's online softmax over
// key blocks of kBlockK. Each block's K and V rows are converted to fp32 once and serve every row of the tile
// (all query heads of the kv head, all new positions). Scores are dot products along head_dim, register-blocked
// 4 rows x kNR keys, with the 4 * kNR = kW lane sums folded into one vector by a shuffle tree; unlike the
// training kernel's transposed tiles this wastes nothing when a tile has only the G rows of one decoding step.

typedef float Vec __attribute__((vector_size(kW * sizeof(float))));
static_assert(4 * kNR == kW, "a score micro-tile has one accumulator per lane of the result vector");

inline Vec vload(const float* p) {
  Vec v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void vstore(float* p, const Vec& v) { std::memcpy(p, &v, sizeof v); }

// [a0 + a1, a2 + a3, ..., b0 + b1, b2 + b3, ...]
template <size_t... I>
inline Vec pair_sums(Vec a, Vec b, std::index_sequence<I...>) {
  return __builtin_shufflevector(a, b, (2 * I)...) + __builtin_shufflevector(a, b, (2 * I + 1)...);
}

// Lane e of the result is the sum of the lanes of v[e] (v is clobbered): log2(kW) levels of pair sums, kW - 1
// shuffle-add steps instead of kW separate horizontal sums.
inline Vec lane_sums(Vec (&v)[kW]) {
#pragma GCC unroll 16
  for (int n = kW; n > 1; n /= 2) {
#pragma GCC unroll 16
    for (int i = 0; i < n / 2; i++) v[i] = pair_sums(v[2 * i], v[2 * i + 1], std::make_index_sequence<kW>{});
  }
  return v[0];
}

// s[r * lds + n] = q_r . k_n for r < MR, n < kNR; q rows (stride ldq) and k rows (stride ldk) have dp floats,
// dp a multiple of kW.
template <int MR>
inline void score_tile(int64_t dp, const float* q, int64_t ldq, const float* k, int64_t ldk, float* s,
                       int64_t lds) {
  Vec acc[kW];
  for (int a = 0; a < kW; a++) acc[a] = Vec{};
  for (int64_t d = 0; d < dp; d += kW) {
    Vec kv[kNR];
    for (int n = 0; n < kNR; n++) kv[n] = vload(k + n * ldk + d);
    for (int r = 0; r < MR; r++) {
      const Vec qv = vload(q + r * ldq + d);
      for (int n = 0; n < kNR; n++) acc[r * kNR + n] += qv * kv[n];
    }
  }
  const Vec sums = lane_sums(acc);
  for (int r = 0; r < MR; r++)
    for (int n = 0; n < kNR; n++) s[r * lds + n] = sums[r * kNR + n];
}

// S[rows][nkp] = Q K^T, nkp a multiple of kNR.
inline void scores(int64_t rows, int64_t nkp, int64_t dp, const float* q, const float* k, float* s, int64_t lds) {
  for (int64_t j = 0; j < nkp; j += kNR) {
    int64_t r = 0;
    for (; r + 4 <= rows; r += 4) score_tile<4>(dp, q + r * dp, dp, k + j * dp, dp, s + r * lds + j, lds);
    switch (rows - r) {
      case 3: score_tile<3>(dp, q + r * dp, dp, k + j * dp, dp, s + r * lds + j, lds); break;
      case 2: score_tile<2>(dp, q + r * dp, dp, k + j * dp, dp, s + r * lds + j, lds); break;
      case 1: score_tile<1>(dp, q + r * dp, dp, k + j * dp, dp, s + r * lds + j, lds); break;
      default: break;
    }
  }
}

// o[r][0, NV kW) += sum_j p[r * ldp + j] v[j][0, NV kW) for r < MR, j < nk.
template <int MR, int NV>
inline void pv_tile(int64_t nk, const float* p, int64_t ldp, const float* v, int64_t ldv, float* o, int64_t ldo) {
  Vec c[MR][NV];
  for (int r = 0; r < MR; r++)
    for (int n = 0; n < NV; n++) c[r][n] = vload(o + r * ldo + n * kW);
  for (int64_t j = 0; j < nk; j++) {
    Vec b[NV];
    for (int n = 0; n < NV; n++) b[n] = vload(v + j * ldv + n * kW);
    for (int r = 0; r < MR; r++) {
      const float a = p[r * ldp + j];
      for (int n = 0; n < NV; n++) c[r][n] += a * b[n];
    }
  }
  for (int r = 0; r < MR; r++)
    for (int n = 0; n < NV; n++) vstore(o + r * ldo + n * kW, c[r][n]);
}

template <int NV>
inline void pv_columns(int64_t rows, int64_t nk, const float* p, int64_t ldp, const float* v, int64_t dp, float* o) {
  int64_t r = 0;
  for (; r + 4 <= rows; r += 4) pv_tile<4, NV>(nk, p + r * ldp, ldp, v, dp, o + r * dp, dp);
  switch (rows - r) {
    case 3: pv_tile<3, NV>(nk, p + r * ldp, ldp, v, dp, o + r * dp, dp); break;
    case 2: pv_tile<2, NV>(nk, p + r * ldp, ldp, v, dp, o + r * dp, dp); break;
    case 1: pv_tile<1, NV>(nk, p + r * ldp, ldp, v, dp, o + r * dp, dp); break;
    default: break;
  }
}

// O[rows][dp] += P[rows][nk] V[nk][dp]: column panels of kNV vectors, then single vectors for the rest.
inline void accumulate_pv(int64_t rows, int64_t nk, const float* p, int64_t ldp, const float* v, int64_t dp,
                          float* o) {
  int64_t d = 0;
  for (; d + kNV * kW <= dp; d += kNV * kW) pv_columns<kNV>(rows, nk, p, ldp, v + d, dp, o + d);
  for (; d < dp; d += kW) pv_columns<1>(rows, nk, p, ldp, v + d, dp, o + d);
}

typedef uint16_t HalfBits __attribute__((vector_size(kW * sizeof(uint16_t))));
typedef uint32_t FloatBits __attribute__((vector_size(kW * sizeof(uint32_t))));

// One row of storage-type values -> fp32. bf16 is the top half of an fp32, so a whole vector converts with a
// widen and a shift (the generic loop compiles to half-width vectors and costs as much as the products).
template <class T>
inline void to_floats(const T* src, int64_t n, float* dst) {
  int64_t c = 0;
  if constexpr (std::is_same<T, float>::value) {
    std::memcpy(dst, src, size_t(n) * sizeof(float));
    c = n;
  } else if constexpr (std::is_same<T, bf16>::value) {
    for (; c + kW <= n; c += kW) {
      HalfBits h;
      std::memcpy(&h, src + c, sizeof h);
      const FloatBits w = __builtin_convertvector(h, FloatBits) << 16;
      std::memcpy(dst + c, &w, sizeof w);
    }
  }
#pragma omp simd
  for (int64_t i = c; i < n; i++) dst[i] = to_float(src[i]);
}

// rows x cols of a strided storage-type matrix -> fp32 rows of length ld, columns [cols, ld) zero. Row r of
// `ahead` (the same rows of the next key block; `ahead_rows` of them, 0 for none) is prefetched into L2 as row r
// is converted: cache rows of one kv head are kv_heads * head_dim elements apart, more than the hardware
// prefetchers follow, and asking for a whole block at once would stall on the core's outstanding-miss slots.
template <class T>
inline void load_rows(const T* src, int64_t src_ld, int64_t rows, int64_t cols, float* dst, int64_t ld,
                      const T* ahead, int64_t ahead_rows) {
  for (int64_t r = 0; r < rows; r++) {
    if (r < ahead_rows) {
      const char* next = reinterpret_cast<const char*>(ahead + r * src_ld);
      for (int64_t c = 0; c < cols * int64_t(sizeof(T)); c += 64) __builtin_prefetch(next + c, 0, 2);
    }
    to_floats(src + r * src_ld, cols, dst + r * ld);
    for (int64_t c = cols; c < ld; c++) dst[r * ld + c] = 0.0f;
  }
}

template <class T>
void run_task(const DecodeShape& s, const void* qv, const void* kv, const void* vv, void* outv, float* lse,
              const Tile& tile, const Task& task, const Partials& partials, float* ws) {
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  constexpr int64_t BK = kBlockK;
  const Geometry g{s};
  const T* q = static_cast<const T*>(qv);
  const T* kc = static_cast<const T*>(kv);
  const T* vc = static_cast<const T*>(vv);
  const int64_t D = s.head_dim, dp = round_up(D, kW), H = s.heads, KH = s.kv_heads, G = g.group();
  const int64_t b = tile.b, rows = tile.rows;
  const int32_t* mask = s.key_mask ? s.key_mask + b * s.capacity : nullptr;

  float* qf = ws;                // [kRows][dp]   scale * Q
  float* o = qf + kRows * dp;    // [kRows][dp]   unnormalised output
  float* kf = o + kRows * dp;    // [BK][dp]      K (zero rows up to a multiple of kNR)
  float* vf = kf + BK * dp;      // [BK][dp]      V
  float* st = vf + BK * dp;      // [kRows][BK]   scores, then probabilities
  float* m = st + kRows * BK;    // [kRows]       running max of the scaled scores
  float* l = m + kRows;          // [kRows]       running sum of exp(score - m)
  float* kadd = l + kRows;       // [BK]          0 for a usable key, -inf for padding

  // Row r's query (position i, head h) and its cache position.
  auto query_row = [&](int64_t r) {
    const int64_t gr = tile.row0 + r;
    return (b * s.q_len + gr / G) * H + tile.kvh * G + gr % G;
  };
  auto position = [&](int64_t r) { return g.position(b, (tile.row0 + r) / G); };

  for (int64_t r = 0; r < rows; r++) {
    const T* src = q + query_row(r) * D;
    float* dst = qf + r * dp;
#pragma omp simd
    for (int64_t d = 0; d < D; d++) dst[d] = s.scale * to_float(src[d]);
    for (int64_t d = D; d < dp; d++) dst[d] = 0.0f;
    m[r] = kNegInf;
    l[r] = 0.0f;
  }
  std::fill(o, o + rows * dp, 0.0f);

  for (int64_t k0 = task.k0; k0 < task.k1; k0 += BK) {
    const int64_t nk = std::min(BK, task.k1 - k0), nkp = round_up(nk, kNR);
    const int64_t row_ld = KH * D;  // cache rows of one kv head are KH * D elements apart
    const int64_t at = ((b * s.capacity + k0) * KH + tile.kvh) * D;
    const int64_t ahead = std::clamp<int64_t>(task.k1 - k0 - BK, 0, BK);  // rows of the next block
    load_rows(kc + at, row_ld, nk, D, kf, dp, ahead > 0 ? kc + at + BK * row_ld : nullptr, ahead);
    std::fill(kf + nk * dp, kf + nkp * dp, 0.0f);
    load_rows(vc + at, row_ld, nk, D, vf, dp, ahead > 0 ? vc + at + BK * row_ld : nullptr, ahead);
    for (int64_t j = 0; j < nk; j++) kadd[j] = mask == nullptr || mask[k0 + j] != 0 ? 0.0f : kNegInf;

    scores(rows, nkp, dp, qf, kf, st, BK);

    for (int64_t r = 0; r < rows; r++) {
      // keys [jlo, jhi) of this block are causally visible and inside the window of row r
      const int64_t p = position(r);
      const int64_t jlo = s.window > 0 ? std::clamp<int64_t>(p - s.window + 1 - k0, 0, nk) : 0;
      const int64_t jhi = std::clamp<int64_t>(p + 1 - k0, 0, nk);
      float* row = st + r * BK;
      float mx = kNegInf;
#pragma omp simd reduction(max : mx)
      for (int64_t j = 0; j < nk; j++) {
        const float x = j >= jlo && j < jhi ? row[j] + kadd[j] : kNegInf;
        row[j] = x;
        mx = x > mx ? x : mx;
      }
      // Online softmax; the exponent offset stays 0 while the row has seen no key, so exp(-inf - 0) = 0.
      const float mnew = std::max(m[r], mx);
      const float off = mnew == kNegInf ? 0.0f : mnew;
      const float alpha = std::exp(m[r] - off);
      float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
      for (int64_t j = 0; j < nk; j++) {
        const float e = vec_exp(row[j] - off);
        row[j] = e;
        sum += e;
      }
      l[r] = l[r] * alpha + sum;
      m[r] = mnew;
      if (alpha != 1.0f) {
        float* orow = o + r * dp;
#pragma omp simd
        for (int64_t d = 0; d < dp; d++) orow[d] *= alpha;
      }
    }

    accumulate_pv(rows, nk, st, BK, vf, dp, o);
  }

  if (task.slot < 0) {
    T* out = static_cast<T*>(outv);
    for (int64_t r = 0; r < rows; r++) {
      const int64_t row = query_row(r);
      T* dst = out + row * D;
      const float* acc = o + r * dp;
      const float inv = l[r] > 0.0f ? 1.0f / l[r] : 0.0f;  // l = 0: the query sees no key, out = 0
      for (int64_t d = 0; d < D; d++) dst[d] = from_float<T>(acc[d] * inv);
      if (lse != nullptr) lse[row] = l[r] > 0.0f ? m[r] + std::log(l[r]) : kNegInf;
    }
  } else {
    float* po = partials.o_of(task.slot);
    for (int64_t r = 0; r < rows; r++) std::memcpy(po + r * D, o + r * dp, size_t(D) * sizeof(float));
    std::memcpy(partials.m_of(task.slot), m, size_t(rows) * sizeof(float));
    std::memcpy(partials.l_of(task.slot), l, size_t(rows) * sizeof(float));
  }
}
