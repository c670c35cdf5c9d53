// The low-rank halves of a LoRA linear with the dropout inside, on the CPU (contracts: jsw_lora_down /
// jsw_lora_up_grad in jswift.h; the fused CUDA twin is cuda-kernels/lora_rank.cu). Here they are the sequence
// the contract is defined by: jsw_dropout into a scratch copy, then the GEMMs (dx masked after its product; in
// jsw_lora_up_grad one pass masks both x's copy and dx, so the mask is hashed once).
// On the CPU that is also the fast way: the mask is hashed 16 elements at a time with AVX-512 over the whole
// input and each product is one large sgemm split over the threads, where masking panel by panel in cache and
// multiplying each panel (tried first) spent more in small sgemm calls than the copy of x costs (an activation
// of a 0.5B model fits in the caches). The numbers are the unfused ones bit for bit.
#include <cstddef>
#include <vector>

#include "core/memory.h"
#include "jswift/jswift.h"
#include "kernels/dora.h"
#include "kernels/gemm.h"
#include "kernels/lora_rank.h"

namespace jsw {
namespace cpu {

namespace {

int64_t element_size(int dtype) { return dtype == JSW_F32 ? 4 : 2; }

// The calling thread's workspace for drop(x), kept between calls up to kKeptBytes: a fresh allocation of an
// activation's size is mapped and unmapped by the C library at every call, and its page faults cost more than
// the small products that read it. Larger copies (big models on the CPU) are allocated per call.
constexpr int64_t kKeptBytes = int64_t(64) << 20;

class Workspace {
 public:
  explicit Workspace(int64_t bytes) : own_(bytes > kKeptBytes ? bytes : 0) {
    if (bytes > kKeptBytes) {
      ptr_ = own_.as<void>();
    } else {
      thread_local std::vector<char> kept;
      if (int64_t(kept.size()) < bytes) kept.resize(std::size_t(bytes));
      ptr_ = kept.data();
    }
  }
  void* get() const { return ptr_; }

 private:
  Scratch own_;
  void* ptr_;
};

// drop(x) as jsw_dropout stores it: x itself when p = 0, else a masked copy in the thread's workspace.
class Dropped {
 public:
  Dropped(int dtype, const void* x, int64_t n, float p, uint64_t seed)
      : copy_(p > 0.0f ? n * element_size(dtype) : 0), ptr_(p > 0.0f ? copy_.get() : x) {
    if (p > 0.0f) dropout(dtype, x, n, p, seed, copy_.get());
  }
  const void* get() const { return ptr_; }

 private:
  Workspace copy_;
  const void* ptr_;
};

}  // namespace

void lora_down(int dtype, const void* x, const void* a, int64_t rows, int64_t in, int64_t rank, float p,
               uint64_t seed, void* xa) {
  Dropped xd(dtype, x, rows * in, p, seed);
  gemm(dense_gemm_args(dtype, dtype, false, true, rows, rank, in, 1.0f, xd.get(), a, 0.0f, xa));
}

void lora_up_grad(int dtype, const void* g, const void* x, const void* a, int64_t rows, int64_t in, int64_t rank,
                  float scale, float p, uint64_t seed, void* dx, float* da) {
  const int64_t n = rows * in;
  // scale g A is stored (rounded) before the mask rescales it: jsw_dropout's two roundings.
  if (dx != nullptr) gemm(dense_gemm_args(dtype, dtype, false, false, rows, in, rank, scale, g, a, 0.0f, dx));
  if (da == nullptr) {
    if (dx != nullptr && p > 0.0f) dropout(dtype, dx, n, p, seed, dx);
    return;
  }
  // drop(x) for dA; with dx as well, one pass hashes the mask once for both (it was 2 of the call's 3 passes)
  Workspace copy(p > 0.0f ? n * element_size(dtype) : 0);
  const void* xd = x;
  if (p > 0.0f) {
    dropout_pair(dtype, x, n, p, seed, copy.get(), dx);
    xd = copy.get();
  }
  gemm(dense_gemm_args(dtype, JSW_F32, true, false, rank, in, rows, scale, g, xd, 1.0f, da));
}

}  // namespace cpu
}  // namespace jsw
