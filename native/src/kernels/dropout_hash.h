// The dropout mask as a pure function of (seed, step, element index), shared by the CPU and CUDA twins so both drop
// the same elements, and by the forward and backward so the mask is regenerated instead of stored.
// A splitmix64-style finaliser (a bijective 64-bit mixer with full avalanche) hashes the mixed seed plus a
// Weyl step over the index; the top 24 bits give a uniform u = k / 2^24 in [0, 1), and an element is kept iff
// u >= p, i.e. with probability 1 - p (to 2^-24).
#pragma once

#include <cstdint>

#ifdef __CUDACC__
#define JSW_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define JSW_HOST_DEVICE inline
#endif

namespace jsw {

JSW_HOST_DEVICE uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// A call's key, from its seed and the device's dropout step (jsw_set_dropout_step), mixed so that nearby seeds
// and steps give unrelated masks. Kernels read the step from memory when they run, so a graph replayed after a
// new step draws a new mask. Step 0 gives the key of the seed alone.
JSW_HOST_DEVICE uint64_t dropout_key(uint64_t seed, uint64_t step) {
  return mix64((seed + step * 0xD1B54A32D192ED03ull) ^ 0x6A09E667F3BCC909ull);
}

// Element index's uniform u = k / 2^24 in [0, 1): the top 24 bits of the hash (exact in a float).
JSW_HOST_DEVICE float dropout_uniform(uint64_t key, uint64_t index) {
  uint64_t h = mix64(key + (index + 1) * 0x9E3779B97F4A7C15ull);
  return float(uint32_t(h >> 40)) * (1.0f / 16777216.0f);
}

JSW_HOST_DEVICE bool dropout_keep(uint64_t key, uint64_t index, float p) {
  return dropout_uniform(key, index) >= p;
}

// NEFTune's noise for element index: magnitude * (2u - 1), uniform on [-magnitude, magnitude) (to 2^-23).
JSW_HOST_DEVICE float uniform_noise(uint64_t key, uint64_t index, float magnitude) {
  return magnitude * (2.0f * dropout_uniform(key, index) - 1.0f);
}

}  // namespace jsw
