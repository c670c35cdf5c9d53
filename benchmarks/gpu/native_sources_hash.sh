#!/usr/bin/env bash
# One SHA-256 over every source the native library and its drivers are built from (native/, cuda-kernels/,
# cmake/), so run.sh can tell whether a build carried in .gpu-carry/ (prepare-java.sh) is of these sources.
#   benchmarks/gpu/native_sources_hash.sh [ROOT]
set -euo pipefail
root="${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
cd "$root"
find native cuda-kernels cmake -type f \( -name '*.cpp' -o -name '*.h' -o -name '*.cu' -o -name '*.cuh' \
  -o -name '*.txt' -o -name '*.cmake' \) -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1
