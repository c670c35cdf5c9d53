// CUDA twin of the randomized SVD: the shared driver (kernels/rsvd.h) over device memory. The big GEMMs go
// through cuBLAS (jsw::cuda::gemm, fp32) and the Gaussian sketch is drawn by a grid-stride kernel from the same
// counter-based hash as the CPU twin, so both twins orthonormalise the same sketch. The k x k steps (Gram
// Cholesky, small SVD) run on the host: each copies O(k^2) floats (k ~ 100: tens of KB) across the bus, which
// is what keeps cuSOLVER out of the dependencies.
#include "common.cuh"
#include "kernels/gemm.h"
#include "kernels/rsvd.h"

namespace jsw {
namespace cuda {

namespace {

constexpr int kThreads = 256;

__global__ void gaussian_kernel(float* x, int64_t count, uint64_t key, uint64_t offset) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < count; i += int64_t(gridDim.x) * blockDim.x)
    x[i] = gaussian_at(key, offset + uint64_t(i));
}

struct DeviceOps {
  int device;

  void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
            const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
    ::jsw::cuda::gemm(device, gemm_args(JSW_F32, JSW_F32, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc));
  }
  void gaussian(float* x, int64_t count, uint64_t key, uint64_t offset) {
    if (count == 0) return;
    int64_t blocks = std::min<int64_t>((count + kThreads - 1) / kThreads, 65536);
    gaussian_kernel<<<unsigned(blocks), kThreads, 0, stream(device)>>>(x, count, key, offset);
    check_launch("gaussian_kernel");
  }
  void copy(float* dst, const float* src, int64_t count) {
    JSW_CUDA_CHECK(cudaMemcpyAsync(dst, src, size_t(count) * sizeof(float), cudaMemcpyDeviceToDevice,
                                   stream(device)));
  }
  // Both transfers are stream-ordered and synchronous (jsw::cuda::memcpy waits), so the host sees the finished
  // Gram matrix and the device never reads a host vector that has gone out of scope.
  void to_host(float* dst, const float* src, int64_t count) {
    ::jsw::cuda::memcpy(dst, JSW_CPU, src, device, count * int64_t(sizeof(float)));
  }
  void from_host(float* dst, const float* src, int64_t count) {
    ::jsw::cuda::memcpy(dst, device, src, JSW_CPU, count * int64_t(sizeof(float)));
  }
};

}  // namespace

void randomized_svd(int device, const float* a, int64_t m, int64_t n, int64_t rank, int64_t oversample,
                    int64_t power_iters, uint64_t seed, float* u, float* s, float* vt) {
  set_device(device);
  int64_t k = rsvd::sketch_width(m, n, rank, oversample);
  Scratch work(device, rsvd::workspace_floats(m, n, k) * int64_t(sizeof(float)));
  DeviceOps ops{device};
  rsvd::randomized_svd(ops, a, m, n, rank, k, power_iters, seed, u, s, vt, work.as<float>(), "jsw_linalg_rsvd_f32");
}

}  // namespace cuda
}  // namespace jsw
