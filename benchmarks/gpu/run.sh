#!/usr/bin/env bash
# The one-shot GPU check of the kernel engine (see README "GPU check"). On a machine with a CUDA GPU, nvcc,
# CMake and Python with PyTorch (no Java, no network needed), in one go:
#   1. builds libjswift, jswift_tests and jswift_bench with CUDA for this GPU's architecture,
#   2. runs every native test, including each CUDA kernel against its CPU twin,
#   3. runs the kernel benchmarks, and the same work in PyTorch (torch_peer.py),
#   4. the QLoRA step and decode of a Llama-3-8B-shaped model against transformers + PEFT (qlora.sh),
#   5. writes OUT/results.json, OUT/results.md and OUT/run.log (summarize.py).
#
#   benchmarks/gpu/run.sh OUT [--dry-run] [--quick] [--no-sanitize] [--build-dir DIR] [--budget SECONDS]
#                              [--only STEPS]
#
# Last, with the time left, runs the CUDA twin tests under compute-sanitizer memcheck (skip with --no-sanitize).
# --budget (default 480) is the whole run's time: each step's time limit is cut to what is left, keeping 20 s for
# the summary, so the run ends inside a lease. --only runs some steps: a comma list of tests, bench, java, qlora
# (qlora-jswift: jswift's side alone), memcheck (the build always runs when a step needs it).
#
# --dry-run checks the script's logic anywhere (no GPU, no torch): it reuses an existing CPU build
# (--build-dir, default target/gpu-build), runs the native tests, the benchmarks with tiny shapes on the CPU,
# placeholder peer timings, and the summary. Exit status: 0 when every step ran and no test failed.
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
out=""
dry_run=0
quick=0
sanitize=1
budget=480
only="tests,bench,java,qlora,memcheck"
build="$root/target/gpu-build"
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) dry_run=1 ;;
    --quick) quick=1 ;;
    --no-sanitize) sanitize=0 ;;
    --build-dir) build="$2"; shift ;;
    --budget) budget="$2"; shift ;;
    --only) only="$2"; shift ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    -*) echo "unknown option $1" >&2; exit 2 ;;
    *) out="$1" ;;
  esac
  shift
done
if [ -z "$out" ]; then echo "usage: $0 OUT_DIR [--dry-run] [--quick] [--build-dir DIR]" >&2; exit 2; fi
mkdir -p "$out"
out="$(cd "$out" && pwd)"
log="$out/run.log"
: > "$log"
exec > >(tee -a "$log") 2>&1

start=$(date +%s)
status=0
step() { echo; echo "== [$(( $(date +%s) - start ))s] $*"; }
fail() { echo "!! $*"; status=1; }
wants() { [[ ",$only," == *",$1,"* ]]; }
# limit CAP: seconds a step may take, CAP at most, keeping 20 s of the budget for the summary.
limit() {
  local left=$(( budget - ($(date +%s) - start) - 20 ))
  [ "$left" -lt 1 ] && left=1
  [ "$1" -lt "$left" ] && echo "$1" || echo "$left"
}

step "environment"
gpu="none"; cc=""
if [ $dry_run -eq 0 ]; then
  if command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=name,memory.total,driver_version,compute_cap --format=csv,noheader || true
    gpu="$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"
    cc="$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -1 | tr -d '.')"
  else
    fail "nvidia-smi not found: no GPU here (use --dry-run to check the script's logic)"
  fi
fi
nvcc_version="$(nvcc --version 2>/dev/null | tail -1)"
cmake_version="$(cmake --version 2>/dev/null | head -1)"
echo "nvcc: ${nvcc_version:-none}; cmake: ${cmake_version:-none}; cores: $(nproc)"

# cuBLAS: a pip-installed nvidia-cublas (next to torch) or a toolkit copy; jswift dlopens it at first use.
if [ $dry_run -eq 0 ] && [ -z "${JSWIFT_CUBLAS_PATH:-}" ]; then
  cublas="$(python3 - <<'PY' 2>/dev/null
import glob, os, site
roots = site.getsitepackages() + [site.getusersitepackages()]
hits = [p for r in roots for p in glob.glob(os.path.join(r, "nvidia", "**", "libcublas.so.*"), recursive=True)]
print(hits[0] if hits else "")
PY
)"
  [ -z "$cublas" ] && cublas="$(ls /usr/local/cuda/lib64/libcublas.so.* /usr/local/cuda-*/lib64/libcublas.so.* 2>/dev/null | head -1)"
  if [ -n "$cublas" ]; then
    export JSWIFT_CUBLAS_PATH="$cublas"; echo "cuBLAS: $cublas"
    export LD_LIBRARY_PATH="$(dirname "$cublas")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  else
    fail "libcublas not found"
  fi
fi

python3 - "$out/env.json" "$gpu" "$nvcc_version" "$cmake_version" "$dry_run" <<'PY'
import json, sys, os, platform
out, gpu, nvcc, cmake, dry = sys.argv[1:6]
json.dump({"gpu": gpu, "nvcc": nvcc, "cmake": cmake, "cores": os.cpu_count(), "host": platform.node(),
           "dry_run": dry == "1", "cublas": os.environ.get("JSWIFT_CUBLAS_PATH")}, open(out, "w"), indent=1)
PY

step "build"
if [ $dry_run -eq 1 ]; then
  if [ ! -x "$build/jswift_tests" ] || [ ! -x "$build/jswift_bench" ]; then
    cmake -S "$root/native" -B "$build" -DCMAKE_BUILD_TYPE=Release -DJSWIFT_CUDA=OFF >/dev/null \
      && cmake --build "$build" -j "$(nproc)" >/dev/null || fail "CPU build failed"
  fi
else
  # The sm_90a build prepare-java.sh carried, when it is of these sources and loads here (saves the build).
  prebuilt="$root/.gpu-carry/native-sm90a.txz"
  carried=0
  if [ "$cc" = "90" ] && [ -f "$prebuilt" ] && [ -z "${JSWIFT_CUDA_ARCHITECTURES:-}" ]; then
    rm -rf "$build" && mkdir -p "$build"
    python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' "$prebuilt" "$build"
    if [ "$(cat "$build/sources.sha256")" != "$(bash "$root/benchmarks/gpu/native_sources_hash.sh" "$root")" ]; then
      echo "the carried sm_90a build is of other sources: building here"
    elif LD_LIBRARY_PATH="$build" "$build/jswift_tests" --list > /dev/null; then
      echo "using the carried sm_90a build (.gpu-carry/native-sm90a.txz)"
      carried=1
    else
      echo "the carried sm_90a build does not load here: building here"
    fi
    [ $carried -eq 1 ] || rm -rf "$build"
  fi
fi
if [ $dry_run -eq 0 ] && [ "${carried:-0}" -eq 0 ]; then
  arch="${JSWIFT_CUDA_ARCHITECTURES:-}"
  if [ -z "$arch" ]; then
    case "$cc" in 90) arch="90a-real" ;; "") arch="80-real;90a-real" ;; *) arch="${cc}-real" ;; esac
  fi
  gen=""; command -v ninja >/dev/null && gen="-G Ninja"
  # shellcheck disable=SC2086
  cmake -S "$root/native" -B "$build" $gen -DCMAKE_BUILD_TYPE=Release -DJSWIFT_CUDA=ON \
    -DJSWIFT_CUDA_ARCHITECTURES="$arch" -DJSWIFT_CUBLAS_LINK=OFF \
    && cmake --build "$build" -j "$(nproc)" || fail "CUDA build failed"
fi

# The native drivers find libjswift.so beside them (a carried build's RUNPATH is the build machine's folder); only
# they get this path, so the JVM steps keep loading the jar's library.
drivers=(env "LD_LIBRARY_PATH=$build${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}")

if [ $dry_run -eq 0 ] && command -v cuobjdump >/dev/null && [ -f "$build/libjswift.so" ]; then
  # Evidence that the attention kernels use tensor cores, ldmatrix and cp.async (per-instruction counts).
  cuobjdump -sass "$build/libjswift.so" 2>/dev/null | awk '/Function :/ {f=$3} /HMMA|LDSM|LDGSTS/ {
      for (i = 1; i <= NF; i++) if ($i ~ /^(HMMA|LDSM|LDGSTS)/) { split($i, op, "."); n[f" "op[1]]++ } }
    END { for (k in n) if (k ~ /attention/) print "sass", k, n[k] }' | sort | tail -40
fi

step "native tests (CUDA twins vs CPU)"
if ! wants tests; then
  echo "skipped (--only)"
elif [ -x "$build/jswift_tests" ]; then
  # One process first; a CUDA test that failed or was not reached then runs again alone (native_tests.py).
  "${drivers[@]}" python3 "$root/benchmarks/gpu/native_tests.py" "$build/jswift_tests" "$out/native_tests.json" \
    --limit "$(limit 150)" --each 30 --budget "$(limit 90)" || fail "native tests failed"
else
  fail "no jswift_tests binary"
fi
# A new path whose twin test failed is switched back to the path it replaced for the rest of the run.
if [ -f "$out/native_tests.json" ]; then
  for kv in $(python3 "$root/benchmarks/gpu/fallbacks.py" "$out/native_tests.json" "$out/fallbacks.json"); do
    export "$kv"
    echo "fallback for the rest of the run (its twin test failed): $kv"
  done
fi

step "jswift kernel benchmarks"
bench_args=(--json "$out/jswift_bench.json")
[ $quick -eq 1 ] && bench_args+=(--quick)
[ $dry_run -eq 1 ] && bench_args+=(--device -1 --tiny)
if ! wants bench; then
  echo "skipped (--only)"
elif [ -x "$build/jswift_bench" ]; then
  "${drivers[@]}" timeout "$(limit 120)" "$build/jswift_bench" "${bench_args[@]}" \
    || fail "some jswift benchmarks failed"
else
  fail "no jswift_bench binary"
fi

step "PyTorch peer benchmarks"
peer_args=(--jswift "$out/jswift_bench.json" --json "$out/torch_bench.json")
[ $quick -eq 1 ] && peer_args+=(--quick)
[ $dry_run -eq 1 ] && peer_args+=(--dry-run)
if wants bench && [ -f "$out/jswift_bench.json" ]; then
  timeout "$(limit 120)" python3 "$root/benchmarks/gpu/torch_peer.py" "${peer_args[@]}" || fail "torch peer failed"
fi

step "Java on CUDA: the model's step and generation vs the CPU (jswift.bench.CudaModelCheck)"
carry="$root/.gpu-carry"
if [ $dry_run -eq 0 ] && [ -f "$carry/jre.txz" ]; then
  # The carried JRE, unpacked once for this step and qlora.sh (which takes it from JSWIFT_JAVA).
  jre="$(mktemp -d)"
  python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' "$carry/jre.txz" "$jre"
  export JSWIFT_JAVA="$jre/jre/bin/java"
fi
if ! wants java; then
  echo "skipped (--only)"
elif [ -n "${JSWIFT_JAVA:-}" ]; then
  JSWIFT_CUDA_CACHE="$(mktemp -d)"
  timeout "$(limit 150)" "$JSWIFT_JAVA" -Dorg.bytedeco.javacpp.cachedir="$JSWIFT_CUDA_CACHE" -cp "$carry/lib/*" \
    jswift.bench.CudaModelCheck "$carry/fixture/llama-gqa" "$out/java_cuda_check.json" \
    || fail "the Java CUDA model check failed (see java_cuda_check.json / the log)"
else
  echo "skipped (no .gpu-carry: run benchmarks/gpu/prepare-java.sh before the GPU run)"
fi

step "QLoRA step and decode, Llama-3-8B shape: jswift (NF4) vs transformers + PEFT (qlora.sh)"
if wants qlora || wants qlora-jswift; then
  # jswift and the peer share what is left; memcheck gets what they leave.
  side=$(( $(limit 400) / 2 - 5 ))
  [ "$side" -lt 30 ] && side=30
  qlora_args=("$out" --limit "$side")
  wants qlora || qlora_args+=(--no-peer)
  [ $dry_run -eq 1 ] && qlora_args+=(--dry-run)
  [ $quick -eq 1 ] && qlora_args+=(--steps 3)
  "$root/benchmarks/gpu/qlora.sh" "${qlora_args[@]}" || fail "the QLoRA benchmark failed"
else
  echo "skipped (--only)"
fi

step "compute-sanitizer memcheck of the CUDA twin tests (with the time left)"
if [ $dry_run -eq 0 ] && [ $sanitize -eq 1 ] && wants memcheck && [ -x "$build/jswift_tests" ]; then
  t="$(limit 120)"
  if ! command -v compute-sanitizer >/dev/null; then
    echo "compute-sanitizer not found: skipped"
  elif [ "$t" -lt 30 ]; then
    echo "skipped: ${t}s left"
  else
    "${drivers[@]}" timeout "$t" compute-sanitizer --tool memcheck --error-exitcode 3 --log-file "$out/memcheck.log" \
      "$build/jswift_tests" --filter cuda > "$out/memcheck_tests.log" 2>&1
    rc=$?
    grep -c '^PASS' "$out/memcheck_tests.log" | sed 's/^/memcheck: tests finished under memcheck: /'
    case $rc in
      0) echo "memcheck: clean" ;;
      124) echo "memcheck: stopped at the ${t}s limit (no error before then; partial log in memcheck.log)" ;;
      *) fail "memcheck reported errors (exit $rc): see memcheck.log"; grep -m5 -A6 'Invalid\|ERROR' "$out/memcheck.log" ;;
    esac
  fi
else
  echo "skipped"
fi

step "summary"
if python3 "$root/benchmarks/gpu/summarize.py" --out "$out"; then
  # results.json holds every piece in full; fewer files come back from the device machine.
  rm -f "$out/env.json" "$out/fallbacks.json" "$out/native_tests.json" "$out/jswift_bench.json" "$out/torch_bench.json" "$out/java_cuda_check.json" \
    "$out/qlora_jswift.json" "$out/qlora_peer.json"
else
  fail "summary failed"
fi
# The device machine sends back at most 8 files: the other files this script writes (memcheck's logs, the pieces a
# failed summary leaves) go into one archive.
rest=""
for f in memcheck.log memcheck_tests.log env.json fallbacks.json native_tests.json jswift_bench.json torch_bench.json \
         java_cuda_check.json qlora_jswift.json qlora_peer.json; do
  [ -f "$out/$f" ] && rest="$rest $f"
done
if [ -n "$rest" ]; then
  # shellcheck disable=SC2086
  (cd "$out" && tar czf pieces.tgz $rest && rm -f $rest)
fi
echo "total $(( $(date +%s) - start ))s; status $status; results in $out"
exit $status
