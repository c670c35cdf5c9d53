// Device queries of a build without CUDA kernels (compiled only when CUDA is off).
#include "core/device.h"

namespace jsw {
bool cuda_compiled() { return false; }
int cuda_device_count() { return 0; }
}  // namespace jsw
