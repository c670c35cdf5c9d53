// How a one-row quantized decode (GPTQ, AWQ) is shared between the OpenMP threads. The work is a grid of quant
// groups (input rows) x column blocks (output channels). Normally each thread takes a contiguous range of the
// blocks and walks every group, so the packed rows are read as streams; when there are too few blocks for
// that to keep every thread busy with long streams (896 outputs are 7 blocks of 128), each thread takes a range
// of the groups over every block instead, into its own partial sums, which are added up at the end.
#pragma once

#include <cstdint>
#include <vector>

#include <omp.h>

namespace jsw {
namespace cpu {

// work(g0, g1, b0, b1, acc): adds groups [g0, g1) of blocks [b0, b1) into acc ([b - b0][width], zeroed first).
// store(b0, b1, acc): writes the finished sums of blocks [b0, b1) (same layout) to the output.
template <class Work, class Store>
void split_decode(int64_t groups, int64_t blocks, int64_t width, Work work, Store store) {
  const int threads = omp_get_max_threads();
  // Fewer than 8 blocks a thread: too little per row to stream, and an uneven split (7 blocks on 2 threads)
  // costs a seventh of the time. Split the groups instead, if there are enough of them.
  const bool by_groups = blocks < 8 * int64_t(threads) && groups >= threads;
  if (!by_groups) {
#pragma omp parallel num_threads(threads)
    {
      const int t = omp_get_thread_num(), nt = omp_get_num_threads();
      const int64_t b0 = blocks * t / nt, b1 = blocks * (t + 1) / nt;
      std::vector<float> acc(size_t((b1 - b0) * width), 0.0f);
      if (b1 > b0) work(int64_t(0), groups, b0, b1, acc.data());
      if (b1 > b0) store(b0, b1, acc.data());
    }
    return;
  }
  std::vector<float> partial(size_t(threads) * size_t(blocks * width), 0.0f);
  int used = threads;
#pragma omp parallel num_threads(threads)
  {
    const int t = omp_get_thread_num(), nt = omp_get_num_threads();
#pragma omp single
    used = nt;
    const int64_t g0 = groups * t / nt, g1 = groups * (t + 1) / nt;
    if (g1 > g0) work(g0, g1, int64_t(0), blocks, partial.data() + size_t(t) * size_t(blocks * width));
  }
  float* sum = partial.data();
  for (int t = 1; t < used; t++) {
    const float* p = partial.data() + size_t(t) * size_t(blocks * width);
    for (int64_t i = 0; i < blocks * width; i++) sum[i] += p[i];
  }
  store(0, blocks, sum);
}

}  // namespace cpu
}  // namespace jsw
