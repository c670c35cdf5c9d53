// The one-row AWQ decode of awq_gemv.cpp, written once over cpu/simd_width.h's V and included into one namespace
// per instruction set (AVX2: 8 lanes, AVX-512: 16). Uses kTileWords (16), kTile, kShift and kPanel from there.
//
// A tile of 16 words (128 outputs) of one input row is one 64-byte line (one AVX-512 vector, two AVX2 ones), and
// output m of every word (lane w holds output 8 w + m) is one shift by a constant away. A mask-and-OR puts the
// nibble into the mantissa of 2^23 (the fp32 bits of 2^23 + q), and subtracting the group's 2^23 + z leaves q - z
// exactly. The scale is factored out of the group: its inputs add x_k (q - z) into group sums that are scaled once
// at the group's end (one multiply per weight fewer than the dequantized product; the same sum up to fp32
// rounding).
//
// Memory order: input rows are out / 2 bytes apart, so one tile walked down all rows reads 64 bytes per row from
// a new page, which the hardware prefetchers do not follow (2-3x slower on weights not already in cache). A
// thread instead takes a panel of kPanel rows of one group across all its tiles, left to right, so each row of
// the panel is read as a stream; the group sums wait in memory (sums, lane order) between panels.
// No include guard on purpose.

// Rows [k0, k1) of group g for the tile of words [j0, j0 + 16): sums[m][w] += sum_k x_k (q - z).
inline void panel_tile(const float* xs, const int32_t* qweight, const int32_t* qzeros, int64_t words, int64_t g,
                       int64_t k0, int64_t k1, int64_t j0, float* sums) {
  const V::I mask = V::set1i(15), magic = V::set1i(0x4B000000);
  for (int h = 0; h < int(kTileWords) / V::kW; h++) {  // the tile's vectors: 1 (AVX-512) or 2 (AVX2)
    const int64_t jh = j0 + h * V::kW;
    const V::I zw = V::loadi(qzeros + g * words + jh);
    V::F zm[8], ag[8];
    for (int m = 0; m < 8; m++) {
      zm[m] = V::field(zw, kShift[m], mask, magic);
      ag[m] = V::load(sums + m * 16 + h * V::kW);
    }
    for (int64_t k = k0; k < k1; k++) {
      // Two tiles ahead on the same row: the streams are short (a thread's share of a row), too short for the
      // hardware prefetcher to get ahead of (measured with AVX-512: 1.3-1.6x over none; 1 and 8 tiles ahead were
      // slower).
      if (h == 0) _mm_prefetch(reinterpret_cast<const char*>(qweight + k * words + j0 + 2 * kTileWords), _MM_HINT_T0);
      const V::I wv = V::loadi(qweight + k * words + jh);
      const V::F xk = V::set1(xs[k]);
      for (int m = 0; m < 8; m++) ag[m] = V::fma(xk, V::sub(V::field(wv, kShift[m], mask, magic), zm[m]), ag[m]);
    }
    for (int m = 0; m < 8; m++) V::store(sums + m * 16 + h * V::kW, ag[m]);
  }
}

// Groups [g0, g1) of the full tiles [t0, t1) of a one-row GEMV, added into acc ([t - t0][m][w] lane order).
inline void tiles_row1(const float* xs, const int32_t* qweight, const int32_t* qzeros, const uint16_t* scales,
                       int64_t out, int64_t gs, int64_t g0, int64_t g1, int64_t t0, int64_t t1, float* acc) {
  const int64_t words = out / awq::kPerWord, n = (t1 - t0) * kTile;
  std::vector<float> sums(size_t(n), 0.0f);
  for (int64_t g = g0; g < g1; g++) {
    for (int64_t k0 = g * gs; k0 < (g + 1) * gs; k0 += kPanel)
      for (int64_t t = t0; t < t1; t++)
        panel_tile(xs, qweight, qzeros, words, g, k0, std::min(k0 + kPanel, (g + 1) * gs), t * kTileWords,
                   sums.data() + (t - t0) * kTile);
    // The group's end: acc += s * sums, the scales (output order [g, 8 w + m]) read in lane order.
    alignas(64) float s_out[kTile];
    for (int64_t t = t0; t < t1; t++) {
      float* a = acc + (t - t0) * kTile;
      float* sm = sums.data() + (t - t0) * kTile;
      const uint16_t* srow = scales + g * out + t * kTile;
      for (int i = 0; i < int(kTile); i += V::kW) V::store(s_out + i, V::halves(srow + i));
      for (int m = 0; m < 8; m++)
        for (int w = 0; w < 16; w++) {
          a[m * 16 + w] += s_out[w * 8 + m] * sm[m * 16 + w];
          sm[m * 16 + w] = 0.0f;
        }
    }
  }
}
