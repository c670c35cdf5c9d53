// CPU GEMM: OpenBLAS sgemm for fp32. bf16/f16 operands are widened to fp32 panels first (OpenBLAS has no
// f16 GEMM, and its sbgemm rounds differently from the CUDA path); the CPU path of training is fp32 anyway.
//
// Threads: the CPU ops share one pool, OpenMP's. A GEMM large enough to split is cut into one slice of rows (or
// columns) per OpenMP thread, and each thread makes a single-threaded OpenBLAS call on its slice
// (openblas_set_num_threads_local, for that call only: other users of the process's OpenBLAS keep its global
// setting). Before, OpenBLAS ran its own pthreads: its pool and OpenMP's fought over the cores unless OpenMP's
// idle threads slept (OMP_WAIT_POLICY=PASSIVE), and then every parallel op paid ~50 us to wake them. One pool
// lets OpenMP's threads spin briefly between ops (libgomp's default): the quick start went from 5794 to about
// 7300 tokens/s on 2 cores, with the same losses on that machine's OpenBLAS core (SkylakeX: a slice's elements
// are summed as in the whole GEMM). Other cores' kernels (Zen) may sum a slice's edge tiles in another order, so
// there the last bits of a GEMM can depend on the thread count (the same count gives the same bits every run).
// A build without OpenBLAS (JSWIFT_BLAS=builtin, e.g. on a GPU machine where the CPU twins only serve as
// test references) uses a plain blocked loop instead.
#include <omp.h>

#include <algorithm>
#include <type_traits>
#include <vector>

#include "core/dtype.h"
#include "core/memory.h"
#include "cpu/gemv_rows.h"
#include "kernels/gemm.h"

#ifdef JSWIFT_WITH_OPENBLAS
#include <cblas.h>
#endif

namespace jsw {
namespace cpu {

#ifdef JSWIFT_WITH_OPENBLAS
namespace {
// This thread's OpenBLAS calls run single-threaded while it lives (the thread's previous setting comes back).
class OneBlasThread {
 public:
  OneBlasThread() : previous_(openblas_set_num_threads_local(1)) {}
  ~OneBlasThread() { openblas_set_num_threads_local(previous_); }
  OneBlasThread(const OneBlasThread&) = delete;
  OneBlasThread& operator=(const OneBlasThread&) = delete;

 private:
  int previous_;
};

// One OpenBLAS call on the calling thread.
void sgemm_one(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
           const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  if (m == 1) {
    // One row (a decode step): a matrix-vector product. OpenBLAS's sgemm does not hand m == 1 to its GEMV on
    // x86-64, and the GEMM path packs the whole weight first: sgemv streams it once, which is what a
    // memory-bound decode needs.
    blasint incx = trans_a ? blasint(lda) : 1;
    if (trans_b)  // B stored [n, k]: c = B a
      cblas_sgemv(CblasRowMajor, CblasNoTrans, blasint(n), blasint(k), alpha, b, blasint(ldb), a, incx, beta, c, 1);
    else          // B stored [k, n]: c = B^T a
      cblas_sgemv(CblasRowMajor, CblasTrans, blasint(k), blasint(n), alpha, b, blasint(ldb), a, incx, beta, c, 1);
    return;
  }
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, blasint(m),
              blasint(n), blasint(k), alpha, a, blasint(lda), b, blasint(ldb), beta, c, blasint(ldc));
}
}  // namespace
#endif

void sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
           const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  if (m == 0 || n == 0) return;
  if (!trans_a && trans_b && m <= kGemvMaxRows) {
    // 1-8 rows against a weight stored [n, k]: a decode step. Read the weight once for all rows (gemv_rows.cpp);
    // sgemm would pack it first (3x slower at 2-8 rows), and the same sums for any m keep batched decode's logits
    // equal to one sequence's.
    gemv_rows(m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    return;
  }
#ifdef JSWIFT_WITH_OPENBLAS
  // Split when each thread gets real work (2^15 multiply-adds or more in all) and no outer region holds them.
  if (m * n * k >= (1 << 15) && omp_get_max_threads() > 1 && !omp_in_parallel()) {
    const bool by_rows = m >= n;
    const int64_t total = by_rows ? m : n;
#pragma omp parallel
    {
      const int t = omp_get_thread_num(), nt = omp_get_num_threads();
      const int64_t per = (total + nt - 1) / nt, lo = t * per, hi = std::min(total, lo + per);
      if (lo < hi) {
        OneBlasThread one;
        if (by_rows)
          sgemm_one(trans_a, trans_b, hi - lo, n, k, alpha, trans_a ? a + lo : a + lo * lda, lda, b, ldb, beta,
                    c + lo * ldc, ldc);
        else
          sgemm_one(trans_a, trans_b, m, hi - lo, k, alpha, a, lda, trans_b ? b + lo * ldb : b + lo, ldb, beta,
                    c + lo, ldc);
      }
    }
    return;
  }
  OneBlasThread one;
  sgemm_one(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
#else
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < m; i++) {
    float* crow = c + i * ldc;
    std::vector<float> acc(size_t(n), 0.0f);
    for (int64_t p = 0; p < k; p++) {
      float av = trans_a ? a[p * lda + i] : a[i * lda + p];
      if (av == 0.0f) continue;
      if (!trans_b) {
        const float* brow = b + p * ldb;
        for (int64_t j = 0; j < n; j++) acc[j] += av * brow[j];
      } else {
        for (int64_t j = 0; j < n; j++) acc[j] += av * b[j * ldb + p];
      }
    }
    for (int64_t j = 0; j < n; j++) crow[j] = alpha * acc[j] + (beta == 0.0f ? 0.0f : beta * crow[j]);
  }
#endif
}

void set_blas_threads(int threads) {
#ifdef JSWIFT_WITH_OPENBLAS
  openblas_set_num_threads(threads);
#else
  (void)threads;
#endif
}

namespace {

// Copies a rows x cols panel with row stride ld into a dense fp32 buffer.
template <class T>
void widen(const T* src, int64_t rows, int64_t cols, int64_t ld, float* dst) {
#pragma omp parallel for schedule(static) if (rows * cols > 65536)
  for (int64_t r = 0; r < rows; r++)
    for (int64_t c = 0; c < cols; c++) dst[r * cols + c] = to_float(src[r * ld + c]);
}

template <class T>
void gemm_typed(const GemmArgs& g) {
  // Stored shapes of A and B (before op()).
  int64_t a_rows = g.trans_a ? g.k : g.m, a_cols = g.trans_a ? g.m : g.k;
  int64_t b_rows = g.trans_b ? g.n : g.k, b_cols = g.trans_b ? g.k : g.n;
  for (int64_t i = 0; i < g.batch; i++) {
    const T* a = static_cast<const T*>(g.a) + i * g.stride_a;
    const T* b = static_cast<const T*>(g.b) + i * g.stride_b;
    if (g.c_dtype == JSW_F32 && std::is_same<T, float>::value) {
      float* c = static_cast<float*>(g.c) + i * g.stride_c;
      sgemm(g.trans_a, g.trans_b, g.m, g.n, g.k, g.alpha, reinterpret_cast<const float*>(a), g.lda,
            reinterpret_cast<const float*>(b), g.ldb, g.beta, c, g.ldc);
      continue;
    }
    const float* af = reinterpret_cast<const float*>(a);
    const float* bf = reinterpret_cast<const float*>(b);
    int64_t lda = g.lda, ldb = g.ldb;
    Scratch wa(std::is_same<T, float>::value ? 0 : a_rows * a_cols * 4);
    Scratch wb(std::is_same<T, float>::value ? 0 : b_rows * b_cols * 4);
    if (!std::is_same<T, float>::value) {
      widen(a, a_rows, a_cols, g.lda, wa.as<float>());
      widen(b, b_rows, b_cols, g.ldb, wb.as<float>());
      af = wa.as<float>();
      bf = wb.as<float>();
      lda = a_cols;
      ldb = b_cols;
    }
    if (g.c_dtype == JSW_F32) {
      sgemm(g.trans_a, g.trans_b, g.m, g.n, g.k, g.alpha, af, lda, bf, ldb, g.beta,
            static_cast<float*>(g.c) + i * g.stride_c, g.ldc);
    } else {
      T* c = static_cast<T*>(g.c) + i * g.stride_c;
      Scratch wc(g.m * g.n * 4);
      float* cf = wc.as<float>();
      if (g.beta != 0.0f) widen(c, g.m, g.n, g.ldc, cf);
      sgemm(g.trans_a, g.trans_b, g.m, g.n, g.k, g.alpha, af, lda, bf, ldb, g.beta, cf, g.n);
      for (int64_t r = 0; r < g.m; r++)
        for (int64_t col = 0; col < g.n; col++) c[r * g.ldc + col] = from_float<T>(cf[r * g.n + col]);
    }
  }
}

}  // namespace

void gemm(const GemmArgs& g) { JSW_DISPATCH_FLOAT(g.dtype, "jsw_gemm", gemm_typed<T>(g)); }

}  // namespace cpu
}  // namespace jsw
