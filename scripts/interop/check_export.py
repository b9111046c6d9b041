"""Loads `loft export` output in transformers / PEFT and prints the perplexity protocol loft uses
(hf: WikiText rows, concatenated, blocks of SEQ tokens, every position scored), so the numbers can
be set beside `loft eval --perplexity --json` on the same text. Not a test: run it in a scratch venv
with torch, transformers and peft (e.g. the one ../shared/peer-bench/setup.sh makes):

    python scripts/interop/check_export.py TEXT SEQ --merged DIR --backbone DIR [--gguf FILE]
"""
import argparse, math, sys

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer


def rows(text):
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return ["" if line in ("", " ") else line + "\n" for line in lines]


def blocks(tokenizer, text, seq):
    stream = []
    for row in rows(text):
        ids = tokenizer(row, add_special_tokens=False)["input_ids"]
        if getattr(tokenizer, "add_bos_token", False) and tokenizer.bos_token_id is not None:
            ids = [tokenizer.bos_token_id] + ids
        stream += ids
    return [stream[i:i + seq] for i in range(0, len(stream) - seq + 1, seq)]


@torch.no_grad()
def loss(model, chunks):
    total, count = 0.0, 0
    for chunk in chunks:
        ids = torch.tensor([chunk])
        out = model(input_ids=ids, labels=ids)
        total += out.loss.item() * (len(chunk) - 1)
        count += len(chunk) - 1
    return total / count


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("text")
    parser.add_argument("seq", type=int)
    parser.add_argument("--merged")
    parser.add_argument("--backbone")
    args = parser.parse_args()
    text = open(args.text, encoding="utf-8").read()
    torch.set_num_threads(2)
    if args.merged:
        tokenizer = AutoTokenizer.from_pretrained(args.merged)
        model = AutoModelForCausalLM.from_pretrained(args.merged, dtype=torch.float32, attn_implementation="eager")
        value = loss(model, blocks(tokenizer, text, args.seq))
        print(f"merged (transformers): loss {value:.7f} perplexity {math.exp(value):.5f}")
    if args.backbone:
        from peft import PeftModel
        tokenizer = AutoTokenizer.from_pretrained(args.backbone)
        base = AutoModelForCausalLM.from_pretrained(args.backbone, dtype=torch.float32, attn_implementation="eager")
        model = PeftModel.from_pretrained(base, args.backbone + "/adapter")
        value = loss(model, blocks(tokenizer, text, args.seq))
        print(f"backbone + adapter (transformers + PEFT): loss {value:.7f} perplexity {math.exp(value):.5f}")


if __name__ == "__main__":
    sys.exit(main())
