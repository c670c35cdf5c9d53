// Device queries and the per-device CUDA state (stream, cuBLAS handle), created lazily on first use so that
// the library loads and runs on machines with no GPU or driver.
#pragma once

#include <cstdint>

namespace jsw {

bool cuda_compiled();
// 0 when there is no driver / device; never throws.
int cuda_device_count();

}  // namespace jsw
