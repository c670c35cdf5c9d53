// Calls into the CUDA twins compile only in a CUDA build; elsewhere a CUDA device was already refused by
// require_device, so the branch is unreachable and reports a clear error if it ever runs.
#pragma once

#include "core/cpu_graph.h"
#include "core/error.h"

#ifdef JSWIFT_WITH_CUDA
#define JSW_CUDA_ONLY(...) __VA_ARGS__
#else
#define JSW_CUDA_ONLY(...) ::jsw::fail(JSW_ERR_NO_DEVICE, "jswift was built without CUDA")
#endif
