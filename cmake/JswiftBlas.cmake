# CPU BLAS. The Maven build passes OPENBLAS_ROOT = the unpacked org.bytedeco:openblas jar: it ships
# libopenblas.so.0 (no unversioned symlink, broken CMake config) and include/cblas.h, so the library is
# linked by full path. Without it (e.g. a GPU machine building only the native tests) a builtin loop GEMM is
# used; the CPU kernels stay correct, only slower.
set(OPENBLAS_ROOT "" CACHE PATH "folder holding libopenblas.so.0 and include/cblas.h")
set(JSWIFT_BLAS_NAME "builtin")
if(OPENBLAS_ROOT)
  find_file(JSWIFT_OPENBLAS_LIB NAMES libopenblas.so.0 libopenblas.so PATHS ${OPENBLAS_ROOT} ${OPENBLAS_ROOT}/lib
            NO_DEFAULT_PATH)
  find_path(JSWIFT_OPENBLAS_INCLUDE cblas.h PATHS ${OPENBLAS_ROOT}/include NO_DEFAULT_PATH)
  if(NOT JSWIFT_OPENBLAS_LIB OR NOT JSWIFT_OPENBLAS_INCLUDE)
    message(FATAL_ERROR "OPENBLAS_ROOT=${OPENBLAS_ROOT} has no libopenblas.so.0 + include/cblas.h")
  endif()
  set(JSWIFT_BLAS_NAME "OpenBLAS")
  message(STATUS "jswift: OpenBLAS ${JSWIFT_OPENBLAS_LIB}")
else()
  message(STATUS "jswift: no OPENBLAS_ROOT, using the builtin CPU GEMM")
endif()

function(jswift_link_blas target)
  if(JSWIFT_OPENBLAS_LIB)
    target_compile_definitions(${target} PRIVATE JSWIFT_WITH_OPENBLAS)
    target_include_directories(${target} PRIVATE ${JSWIFT_OPENBLAS_INCLUDE})
    target_link_libraries(${target} PRIVATE ${JSWIFT_OPENBLAS_LIB})
  endif()
endfunction()
