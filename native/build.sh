#!/usr/bin/env bash
# Builds libjswift with CMake and runs the native test driver.
#   native/build.sh OUTPUT_DIR BUILD_DIR [OPENBLAS_ROOT] [CUDA=AUTO|ON|OFF] [JOBS] [RUN_TESTS=true|false]
# Maven calls this from bindings/ (generate-resources) with OUTPUT_DIR inside target/classes, so the library is
# packed into the jar. It can be run by hand from any directory.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="$(mkdir -p "$1" && cd "$1" && pwd)"
build="$(mkdir -p "$2" && cd "$2" && pwd)"
openblas="${3:-}"
cuda="${4:-AUTO}"
jobs="${5:-2}"
run_tests="${6:-true}"

cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=Release -DJSWIFT_OUTPUT_DIR="$out" \
  -DOPENBLAS_ROOT="$openblas" -DJSWIFT_CUDA="$cuda"
cmake --build "$build" -j "$jobs"

# Ship the GCC OpenMP runtime beside libjswift (its RUNPATH is $ORIGIN): not every machine has libgomp.
gomp="$(g++ -print-file-name=libgomp.so.1)"
if [ -f "$gomp" ]; then cp -L "$gomp" "$out/libgomp.so.1"; fi

if [ "$run_tests" = "true" ]; then
  "$build/jswift_tests"
  # The CUDA twin tests once more with the CPU standing in for the GPU: their own code (packing, uploads,
  # comparisons) runs here, so a bug in it fails this build rather than a rare GPU run.
  "$build/jswift_tests" --cuda-as-cpu --filter cuda | grep -v '^PASS'
fi
