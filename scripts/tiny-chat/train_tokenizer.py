#!/usr/bin/env python3
"""Trains the byte-level BPE tokenizer of models/jswift-tiny-chat with Hugging Face `tokenizers`.

Qwen2's recipe at a small scale: NFC normalisation, Qwen2's pre-tokenisation regex (single digits, words with an
optional leading space or punctuation mark), byte-level BPE with all 256 bytes in the base alphabet (any UTF-8
text encodes, nothing is unknown), and the three special tokens a ChatML conversation needs at ids 0-2:
<|endoftext|> (document end, padding), <|im_start|>, <|im_end|>. Writes tokenizer.json and tokenizer_config.json
(with a Qwen2-Instruct chat template); --eos picks the end-of-sequence token (<|endoftext|> for the pre-training
base, <|im_end|> for the chat model), as Qwen2.5's base and instruct folders differ.

    python3 train_tokenizer.py --out DIR --vocab-size 8192 corpus/train.txt [more.txt | chat.jsonl ...]

A .jsonl file contributes the contents of its rows' messages (ms-swift's messages format), so the words of the
chat data the model is later fine-tuned on are in the vocabulary too.
"""
import argparse
import json
from pathlib import Path

from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

SPECIALS = ['<|endoftext|>', '<|im_start|>', '<|im_end|>']
# Qwen2's split pattern (tokenizer.json of Qwen2 / Qwen2.5).
PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+"
           r"|\s+(?!\S)|\s+")
# Qwen2-Instruct's template: a default system prompt, then <|im_start|>role\ncontent<|im_end|>\n per message.
CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{%- if loop.first and messages[0]['role'] != 'system' %}"
    "{{- '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}"
    "{%- endif %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}")


def texts(files):
    for f in files:
        with open(f, encoding='utf-8') as lines:
            if f.suffix == '.jsonl':
                for line in lines:
                    for m in json.loads(line)['messages']:
                        yield m['content']
            else:
                yield from lines


def build(vocab_size, files):
    tok = Tokenizer(models.BPE(byte_fallback=False))
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(PATTERN), behavior='isolated', invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)
    tok.post_processor = processors.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2, special_tokens=SPECIALS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(texts(files), trainer)
    return tok


def tokenizer_config(eos, max_length):
    added = {str(i): {'content': s, 'lstrip': False, 'normalized': False, 'rstrip': False, 'single_word': False,
                      'special': True} for i, s in enumerate(SPECIALS)}
    return {'add_prefix_space': False, 'added_tokens_decoder': added, 'additional_special_tokens': SPECIALS[1:],
            'bos_token': None, 'chat_template': CHAT_TEMPLATE, 'clean_up_tokenization_spaces': False,
            'eos_token': eos, 'errors': 'replace', 'model_max_length': max_length, 'pad_token': SPECIALS[0],
            'split_special_tokens': False, 'tokenizer_class': 'PreTrainedTokenizerFast', 'unk_token': None}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('files', nargs='+', type=Path, help='plain-text (one text a line) or messages .jsonl files')
    ap.add_argument('--out', type=Path, required=True)
    ap.add_argument('--vocab-size', type=int, default=8192)
    ap.add_argument('--eos', choices=['<|endoftext|>', '<|im_end|>'], default='<|endoftext|>')
    ap.add_argument('--model-max-length', type=int, default=512)
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    tok = build(a.vocab_size, a.files)
    for i, s in enumerate(SPECIALS):
        assert tok.token_to_id(s) == i, f'{s} should be id {i}'
    tok.save(str(a.out / 'tokenizer.json'), pretty=False)
    with open(a.out / 'tokenizer_config.json', 'w', encoding='utf-8') as f:
        json.dump(tokenizer_config(a.eos, a.model_max_length), f, indent=2, ensure_ascii=False)
        f.write('\n')
    print(f'train_tokenizer: {tok.get_vocab_size()} tokens -> {a.out}')


if __name__ == '__main__':
    main()
