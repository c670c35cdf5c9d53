# Compiler flags for the native library. The CPU baseline is x86-64-v3 (AVX2, FMA, F16C: every x86 server
# and desktop CPU since 2013-2015) so the jar runs on users' machines, not only the build machine.
set(CMAKE_CXX_STANDARD 17)
set(CMAKE_CXX_STANDARD_REQUIRED ON)
set(CMAKE_POSITION_INDEPENDENT_CODE ON)
set(CMAKE_CXX_VISIBILITY_PRESET hidden)
set(CMAKE_VISIBILITY_INLINES_HIDDEN ON)
if(NOT CMAKE_BUILD_TYPE)
  set(CMAKE_BUILD_TYPE Release)
endif()

set(JSWIFT_CPU_ARCH "x86-64-v3" CACHE STRING "-march for the CPU kernels (native for the build machine only)")
if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64")
  set(JSWIFT_ARCH_FLAGS "-march=${JSWIFT_CPU_ARCH}")
else()
  set(JSWIFT_ARCH_FLAGS "")
endif()

find_package(OpenMP REQUIRED COMPONENTS CXX)
set(JSWIFT_CXX_FLAGS -O3 ${JSWIFT_ARCH_FLAGS} -Wall -Wextra -Wno-unused-parameter -Wno-unknown-pragmas)
