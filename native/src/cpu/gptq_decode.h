// The one-row GPTQ decode kernels of gptq_gemv.cpp, written once over cpu/simd_width.h's V and included into one
// namespace per instruction set (AVX2: 8 lanes, AVX-512: 16). Uses Dims and kBlock (128 channels) from there.
//
// Each 4- or 8-bit field becomes fp32 with one mask-and-OR into the mantissa of 2^23 (the fp32 bits of 2^23 + q);
// subtracting the table's 2^23 + z leaves q - z exactly. Memory order: the weight is input-major (qweight
// [in / p, out]), so a 128-channel column walked down every packed row would read 512 bytes per row from a new
// page, which the hardware prefetchers do not follow (2x slower on weights that are not already in cache). The
// kernels take a group (or a 16-row panel) of rows at a time and gemv walks a thread's blocks inside, so each
// packed row is read left to right. A block is done in passes of kVPass vectors, as many as the registers hold.
// No include guard on purpose.

constexpr int kVPass = V::kW == 16 ? 8 : 4;                  // sums + zeros: 16 of 32 zmm, 8 of 16 ymm registers
constexpr int kPasses = int(kBlock) / (V::kW * kVPass);      // 1 (AVX-512) or 4 (AVX2)

// 2^23 + z (the GPTQ v1 zero: the stored field plus one) as fp32 for the kW channels from c (a multiple of kW) of
// quant group row zrow: lane l reads word (c + l) / p, field l % p. The kW / p words are gathered one by one, so
// nothing past the channels' own words is read.
template <int kBits>
inline V::F zero_magic(const int32_t* zrow, int64_t c) {
  constexpr int kP = 32 / kBits;
  alignas(64) int32_t words[V::kW], shifts[V::kW];
  for (int l = 0; l < V::kW; l++) {
    words[l] = zrow[(c + l) / kP];
    shifts[l] = (l % kP) * kBits;
  }
  const V::I z = V::andi(V::addi(V::srlv(V::loadi(words), V::loadi(shifts)), V::set1i(1)), V::set1i((1 << kBits) - 1));
  return V::as_float(V::ori(z, V::set1i(0x4B000000)));
}

// One quant group's run of packed rows [r0, r1) (every row of the run in group g) times one row of x, over the
// 128 channels at c0: the group's scaled-out sum of x_k (q - z), then acc += s * sum (one multiply per weight
// fewer than the dequantized product; the same value up to fp32 rounding). For checkpoints whose g_idx keeps each
// packed row in one group (no act-order scramble).
template <int kBits>
void group_block(const Dims& d, const float* xs, const int32_t* qweight, const int32_t* qzeros,
                 const uint16_t* scales, int64_t g, int64_t r0, int64_t r1, int64_t c0, float* acc) {
  constexpr int kP = 32 / kBits;
  const V::I mask = V::set1i(int((1u << kBits) - 1u)), magic = V::set1i(0x4B000000);
  const int32_t* zrow = qzeros + g * (d.out / kP);
  const uint16_t* srow = scales + g * d.out;
  for (int pass = 0; pass < kPasses; pass++) {
    const int64_t cp = c0 + pass * kVPass * V::kW;
    V::F zm[kVPass], ag[kVPass];
    for (int v = 0; v < kVPass; v++) {
      zm[v] = zero_magic<kBits>(zrow, cp + v * V::kW);
      ag[v] = V::zero();
    }
    for (int64_t r = r0; r < r1; r++) {
      const int32_t* row = qweight + r * d.out + cp;
      const float* xk = xs + r * kP;
      for (int v = 0; v < kVPass; v++) {
        // The same row's next block: a thread's share of a row is a short stream, which the hardware prefetcher
        // does not get ahead of (measured with AVX-512: 1.1-1.3x over none on weights not in cache).
        _mm_prefetch(reinterpret_cast<const char*>(row + kBlock + v * V::kW), _MM_HINT_T0);
        const V::I words = V::loadi(row + v * V::kW);
        for (int j = 0; j < kP; j++)
          ag[v] = V::fma(V::set1(xk[j]), V::sub(V::field(words, kBits * j, mask, magic), zm[v]), ag[v]);
      }
    }
    float* a = acc + pass * kVPass * V::kW;
    for (int v = 0; v < kVPass; v++)
      V::store(a + v * V::kW, V::fma(V::halves(srow + cp + v * V::kW), ag[v], V::load(a + v * V::kW)));
  }
}

// The scales and 2^23 + zeros of every group for channels [c0, c0 + n) (n a multiple of 128), [g][n]: the tables
// act_block looks up per field.
template <int kBits>
void group_tables(const Dims& d, const int32_t* qzeros, const uint16_t* scales, int64_t c0, int64_t n, float* s_tab,
                  float* zm_tab) {
  for (int64_t g = 0; g < d.groups; g++)
    for (int64_t c = 0; c < n; c += V::kW) {
      V::store(zm_tab + g * n + c, zero_magic<kBits>(qzeros + g * (d.out / (32 / kBits)), c0 + c));
      V::store(s_tab + g * n + c, V::halves(scales + g * d.out + c0 + c));
    }
}

// group_block for act-order checkpoints, whose packed rows mix groups: rows [r0, r1) times one row of x over the
// 128 channels at c0, each weight the dequantization's product s * (q - z) with s and 2^23 + z looked up per
// field in tables [g][ld] (column 0 = c0), added into acc.
template <int kBits>
void act_block(const Dims& d, const float* xs, const int32_t* qweight, const int32_t* g_idx, int64_t r0, int64_t r1,
               int64_t c0, const float* s_tab, const float* zm_tab, int64_t ld, float* acc) {
  constexpr int kP = 32 / kBits;
  const V::I mask = V::set1i(int((1u << kBits) - 1u)), magic = V::set1i(0x4B000000);
  for (int pass = 0; pass < kPasses; pass++) {
    const int64_t off = pass * kVPass * V::kW;
    V::F a[kVPass];
    for (int v = 0; v < kVPass; v++) a[v] = V::load(acc + off + v * V::kW);
    for (int64_t r = r0; r < r1; r++) {
      const int32_t* row = qweight + r * d.out + c0 + off;
      const int32_t* gi = g_idx + r * kP;
      const float* xk = xs + r * kP;
      for (int v = 0; v < kVPass; v++) {
        _mm_prefetch(reinterpret_cast<const char*>(row + kBlock + v * V::kW), _MM_HINT_T0);
        const V::I words = V::loadi(row + v * V::kW);
        for (int j = 0; j < kP; j++) {
          const int64_t t = int64_t(gi[j]) * ld + off + v * V::kW;
          const V::F w = V::mul(V::load(s_tab + t), V::sub(V::field(words, kBits * j, mask, magic), V::load(zm_tab + t)));
          a[v] = V::fma(V::set1(xk[j]), w, a[v]);
        }
      }
    }
    for (int v = 0; v < kVPass; v++) V::store(acc + off + v * V::kW, a[v]);
  }
}

// The kernels of this instruction set (the DecodeKernels table of gptq_gemv.cpp).
inline const DecodeKernels& decode_kernels() {
  static const DecodeKernels k{{group_block<4>, group_block<8>}, {group_tables<4>, group_tables<8>},
                               {act_block<4>, act_block<8>}};
  return k;
}
