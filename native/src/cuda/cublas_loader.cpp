// Finds cuBLAS. Linked builds take the functions directly. Otherwise libcublas is dlopen'ed at first GPU
// use: $JSWIFT_CUBLAS_PATH (a file or a directory) first, then the loader's search path. No registry here
// serves cuBLAS 13, and a GPU-less machine must still load the library, so nothing links it at build time.
#include <dlfcn.h>

#include <cstdlib>
#include <mutex>
#include <string>
#include <vector>

#include "cuda/cublas_api.h"
#include "cuda/runtime.h"

namespace jsw {
namespace cuda {

namespace {

std::once_flag load_once;
Cublas table;
std::string load_error;

#ifdef JSWIFT_HAVE_CUBLAS_HEADERS
void load() {
  table.create = &cublasCreate_v2;
  table.set_stream = &cublasSetStream_v2;
  table.gemm_strided_batched_ex = &cublasGemmStridedBatchedEx;
  table.status_string = &cublasGetStatusString;
  table.set_workspace = &cublasSetWorkspace_v2;
}
#else
void* open_first(const std::vector<std::string>& candidates, std::string& tried) {
  for (const auto& path : candidates) {
    void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_GLOBAL);
    if (h != nullptr) return h;
    tried += "\n  " + path + ": " + dlerror();
  }
  return nullptr;
}

void load() {
  std::vector<std::string> candidates;
  if (const char* env = std::getenv("JSWIFT_CUBLAS_PATH")) {
    std::string p(env);
    if (p.size() > 3 && p.find(".so") != std::string::npos) {
      candidates.push_back(p);
    } else {
      candidates.push_back(p + "/libcublas.so.13");
      candidates.push_back(p + "/libcublas.so.12");
      candidates.push_back(p + "/libcublas.so");
    }
  }
  candidates.push_back("libcublas.so.13");
  candidates.push_back("libcublas.so.12");
  candidates.push_back("libcublas.so");
  std::string tried;
  void* h = open_first(candidates, tried);
  if (h == nullptr) {
    load_error = "cuBLAS could not be loaded; set JSWIFT_CUBLAS_PATH to libcublas.so.13 or its directory. Tried:" + tried;
    return;
  }
  auto sym = [&](const char* name) {
    void* f = dlsym(h, name);
    if (f == nullptr) load_error = std::string("cuBLAS lacks symbol ") + name;
    return f;
  };
  table.create = reinterpret_cast<decltype(table.create)>(sym("cublasCreate_v2"));
  table.set_stream = reinterpret_cast<decltype(table.set_stream)>(sym("cublasSetStream_v2"));
  table.gemm_strided_batched_ex =
      reinterpret_cast<decltype(table.gemm_strided_batched_ex)>(sym("cublasGemmStridedBatchedEx"));
  table.status_string = reinterpret_cast<decltype(table.status_string)>(sym("cublasGetStatusString"));
  table.set_workspace = reinterpret_cast<decltype(table.set_workspace)>(dlsym(h, "cublasSetWorkspace_v2"));
}
#endif

constexpr int kMaxDevices = 64;
std::mutex mu;
cublasHandle_t handles[kMaxDevices] = {};
void* workspaces[kMaxDevices] = {};

}  // namespace

const Cublas& cublas() {
  std::call_once(load_once, load);
  if (!load_error.empty()) fail(JSW_ERR_NO_DEVICE, load_error);
  return table;
}

cublasHandle_t cublas_handle(int device) {
  const Cublas& api = cublas();
  cudaStream_t s = stream(device);
  std::lock_guard<std::mutex> lock(mu);
  if (handles[device] == nullptr) {
    cublasStatus_t st = api.create(&handles[device]);
    if (st != CUBLAS_STATUS_SUCCESS)
      fail(JSW_ERR_CUDA, format("cublasCreate failed on cuda:%d: %s", device, api.status_string(st)));
    api.set_stream(handles[device], s);
  }
  return handles[device];
}

// cuBLAS may allocate its workspace when a GEMM runs, which a stream capture forbids; a workspace set once, from the
// caching allocator and never freed, makes captured GEMMs allocation-free (cuBLAS's advice for CUDA graphs). 32 MiB
// is what cuBLAS recommends for Hopper and is ample for the older GPUs. It stays for the eager GEMMs after it too,
// so eager and replayed steps after the first capture run with the same workspace.
void fix_cublas_workspace(int device) {
  const Cublas& api = cublas();
  cublasHandle_t h = cublas_handle(device);
  std::lock_guard<std::mutex> lock(mu);
  if (workspaces[device] != nullptr) return;
  if (api.set_workspace == nullptr)
    fail(JSW_ERR_UNSUPPORTED, "this cuBLAS lacks cublasSetWorkspace_v2, which CUDA graph capture needs");
  constexpr size_t kBytes = size_t(32) << 20;
  void* w = alloc(device, int64_t(kBytes));
  cublasStatus_t st = api.set_workspace(h, w, kBytes);
  if (st != CUBLAS_STATUS_SUCCESS) {
    release(device, w);
    fail(JSW_ERR_CUDA, format("cublasSetWorkspace failed on cuda:%d: %s", device, api.status_string(st)));
  }
  workspaces[device] = w;
}

}  // namespace cuda
}  // namespace jsw
