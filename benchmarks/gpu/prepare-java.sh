#!/usr/bin/env bash
# Packs what the Java part of the GPU check needs into .gpu-carry/ (ignored by git), for a GPU machine that has
# no Java, Maven or network: a jlink'd JRE (.tgz), the project's jars and their runtime dependencies (no
# libtorch, no tokenizers), the llama-gqa fixture, and the native drivers built for sm_90a. benchmarks/gpu/run.sh
# uses it when present.
#   benchmarks/gpu/prepare-java.sh      (after mvn -B -DskipTests package)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
carry="$root/.gpu-carry"
m2="${MAVEN_REPO:-$HOME/.m2/repository}"
rm -rf "$carry"
mkdir -p "$carry/lib" "$carry/fixture"

tmp="$(mktemp -d)"
# Uncompressed modules in an xz tarball: 12.6 MB, against 22.5 MB for jlink's zip compression in a gzip one.
# run.sh unpacks it with Python's tarfile (the GPU machine has Python; xz may not be installed).
jlink --add-modules java.base,java.logging,java.management,java.sql,jdk.unsupported \
  --strip-debug --no-header-files --no-man-pages --compress=0 --output "$tmp/jre"
python3 -c 'import sys, tarfile; t = tarfile.open(sys.argv[1], "w:xz"); t.add(sys.argv[2], "jre"); t.close()' \
  "$carry/jre.txz" "$tmp/jre"
rm -rf "$tmp"

cp "$root"/bindings/target/jswift-bindings-*.jar "$root"/java/target/jswift-[0-9]*.jar \
   "$root"/benchmarks/target/jswift-benchmarks-[0-9]*.jar "$carry/lib/"
for a in com/fasterxml/jackson/core/jackson-core/2.23.0/jackson-core-2.23.0.jar \
         com/fasterxml/jackson/core/jackson-databind/2.23.0/jackson-databind-2.23.0.jar \
         org/bytedeco/javacpp/1.5.13/javacpp-1.5.13.jar \
         org/bytedeco/javacpp/1.5.13/javacpp-1.5.13-linux-x86_64.jar \
         org/bytedeco/openblas/0.3.31-1.5.13/openblas-0.3.31-1.5.13.jar \
         org/bytedeco/openblas/0.3.31-1.5.13/openblas-0.3.31-1.5.13-linux-x86_64.jar; do
  cp "$m2/$a" "$carry/lib/"
done
cp "$(ls "$m2"/com/fasterxml/jackson/core/jackson-annotations/*/jackson-annotations-*.jar | sort | tail -1)" "$carry/lib/"
# The OpenBLAS natives jar holds three JNI builds and the C headers; jswift loads only openblas_nolapack's (see
# bindings' CoreNative). Dropping the rest, and the xz JRE above, take the carry from 54 to ~37 MiB: the GPU
# machine takes at most 64 MiB of working tree, the tracked files included.
python3 - "$carry/lib/openblas-0.3.31-1.5.13-linux-x86_64.jar" <<'PY'
import os, sys, zipfile
jar = sys.argv[1]
drop = ("/libjniopenblas.so", "/libjniopenblas_full.so")
with zipfile.ZipFile(jar) as src, zipfile.ZipFile(jar + ".slim", "w", zipfile.ZIP_DEFLATED) as dst:
    for item in src.infolist():
        if item.filename.endswith(drop) or "/include/" in item.filename:
            continue
        dst.writestr(item, src.read(item.filename))
os.replace(jar + ".slim", jar)
PY
cp -r "$root/java/src/test/resources/fixtures/hf-tiny/llama-gqa" "$carry/fixture/"

# The bindings jar's libjswift.so holds the CUDA kernels for sm_80, sm_90a and PTX (61 MB, 18.5 MB packed on
# 2026-11-28), more than the carry can take. Where nvcc is installed, the jar travels with the same library built
# for sm_90a only (the lent machines' H100 / H200), with Maven's build settings otherwise (OpenBLAS included).
if command -v nvcc >/dev/null; then
  jb="$(mktemp -d)"
  cmake -S "$root/native" -B "$jb/build" -DCMAKE_BUILD_TYPE=Release -DJSWIFT_OUTPUT_DIR="$jb/out" \
    -DOPENBLAS_ROOT="$root/bindings/target/openblas/org/bytedeco/openblas/linux-x86_64" -DJSWIFT_CUDA=ON \
    -DJSWIFT_CUDA_ARCHITECTURES=90a-real > /dev/null
  cmake --build "$jb/build" -j "$(nproc)" --target jswift > /dev/null
  python3 - "$(ls "$carry"/lib/jswift-bindings-*.jar)" "$jb/out/libjswift.so" <<'PY'
import os, sys, zipfile
jar, lib = sys.argv[1:3]
name = "jswift/bindings/linux-x86_64/libjswift.so"
with zipfile.ZipFile(jar) as src, zipfile.ZipFile(jar + ".hopper", "w", zipfile.ZIP_DEFLATED) as dst:
    assert name in src.namelist(), f"{jar} has no {name}"
    for item in src.infolist():
        if item.filename == name:
            with open(lib, "rb") as f:
                dst.writestr(item, f.read())
        else:
            dst.writestr(item, src.read(item.filename))
os.replace(jar + ".hopper", jar)
PY
  rm -rf "$jb"
fi

# The native drivers built here for Hopper (sm_90a, the H100 / H200 of the lent machines): run.sh then skips its
# own CUDA build, about a minute of device time, when the sources' hash matches (native_sources_hash) and the
# library loads there; otherwise it builds as before.
if command -v nvcc >/dev/null; then
  nb="$(mktemp -d)"
  cmake -S "$root/native" -B "$nb" -DCMAKE_BUILD_TYPE=Release -DJSWIFT_CUDA=ON -DJSWIFT_CUDA_ARCHITECTURES=90a-real \
    -DJSWIFT_CUBLAS_LINK=OFF > /dev/null
  cmake --build "$nb" -j "$(nproc)" > /dev/null
  python3 - "$carry/native-sm90a.txz" "$nb" "$(bash "$root/benchmarks/gpu/native_sources_hash.sh" "$root")" <<'PY'
import io, os, sys, tarfile
out, build, digest = sys.argv[1:4]
with tarfile.open(out, "w:xz") as t:
    for f in ("libjswift.so", "jswift_tests", "jswift_bench"):
        t.add(os.path.join(build, f), f)
    stamp = (digest + "\n").encode()
    info = tarfile.TarInfo("sources.sha256")
    info.size = len(stamp)
    t.addfile(info, io.BytesIO(stamp))
PY
  rm -rf "$nb"
fi
du -sh "$carry"
echo "travels with the tracked tree: $(( ( $(du -sb "$carry" | cut -f1) + $(git -C "$root" ls-files -z | xargs -0 du -cb 2>/dev/null | tail -1 | cut -f1) ) / 1048576 )) MiB of 64 MiB"
