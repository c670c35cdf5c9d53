#!/usr/bin/env python3
"""Copies a jswift checkpoint's Hugging Face files into a model folder, as a chat model.

    chat_folder.py PT_CHECKPOINT DEST            the pre-trained base, re-labelled for chat fine-tuning
    chat_folder.py --export SFT_CHECKPOINT DEST  the shipped folder (replaces DEST's model files)

Only the model's files are copied (config, weights, tokenizer, generation config; not the optimizer state,
trainer state or args.json of the run). The end-of-sequence settings become a chat model's, as Qwen2.5's base
and instruct folders differ: <|im_end|> ends a turn (config.json, tokenizer_config.json) and generation stops at
<|im_end|> or <|endoftext|> (generation_config.json), greedy by default.
"""
import argparse
import json
import shutil
from pathlib import Path

MODEL_FILES = ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json',
               'generation_config.json']
ENDOFTEXT, IM_END = 0, 2


def rewrite(path, update):
    data = json.loads(path.read_text(encoding='utf-8'))
    update(data)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + '\n', encoding='utf-8')


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('checkpoint', type=Path)
    ap.add_argument('dest', type=Path)
    ap.add_argument('--export', action='store_true', help='DEST is the shipped folder: replace its model files')
    a = ap.parse_args()
    missing = [f for f in MODEL_FILES if not (a.checkpoint / f).exists()]
    if missing:
        raise SystemExit(f'{a.checkpoint}: missing {missing} (is it a full-parameter jswift checkpoint?)')
    a.dest.mkdir(parents=True, exist_ok=True)
    for f in MODEL_FILES:
        shutil.copyfile(a.checkpoint / f, a.dest / f)

    tokenizer = json.loads((a.dest / 'tokenizer.json').read_text(encoding='utf-8'))
    ids = {t['content']: t['id'] for t in tokenizer['added_tokens']}
    assert ids['<|endoftext|>'] == ENDOFTEXT and ids['<|im_end|>'] == IM_END, ids

    def config(c):
        c['eos_token_id'] = IM_END

    def tokenizer_config(c):
        c['eos_token'] = '<|im_end|>'

    def generation(c):
        c.clear()
        c.update({'bos_token_id': ENDOFTEXT, 'do_sample': False, 'eos_token_id': [IM_END, ENDOFTEXT],
                  'pad_token_id': ENDOFTEXT})

    rewrite(a.dest / 'config.json', config)
    rewrite(a.dest / 'tokenizer_config.json', tokenizer_config)
    rewrite(a.dest / 'generation_config.json', generation)
    print(f'chat_folder: {a.checkpoint} -> {a.dest}')


if __name__ == '__main__':
    main()
