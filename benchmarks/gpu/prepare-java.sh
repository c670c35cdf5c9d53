#!/usr/bin/env bash
# Packs what the Java part of the GPU check needs into .gpu-carry/ (ignored by git), for a GPU machine that has
# no Java, Maven or network: a jlink'd JRE (.tgz), the project's jars and their runtime dependencies (no
# libtorch, no tokenizers), and the llama-gqa fixture. benchmarks/gpu/run.sh uses it when present.
#   benchmarks/gpu/prepare-java.sh      (after mvn -B -DskipTests package)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
carry="$root/.gpu-carry"
m2="${MAVEN_REPO:-$HOME/.m2/repository}"
rm -rf "$carry"
mkdir -p "$carry/lib" "$carry/fixture"

tmp="$(mktemp -d)"
jlink --add-modules java.base,java.logging,java.management,java.sql,jdk.unsupported \
  --strip-debug --no-header-files --no-man-pages --compress=2 --output "$tmp/jre"
tar -czf "$carry/jre.tgz" -C "$tmp" jre
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
cp -r "$root/java/src/test/resources/fixtures/hf-tiny/llama-gqa" "$carry/fixture/"
du -sh "$carry"
