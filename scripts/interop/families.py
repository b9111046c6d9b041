#!/usr/bin/env python3
"""Exports of a Mistral or Qwen2 run, read back by transformers and PEFT (by hand, not in CI).

usage: python scripts/interop/families.py EXPORT_DIR FAMILY
EXPORT_DIR holds FAMILY-merged/ (loft export --merged) and FAMILY-bb/ (--backbone, with its PEFT
adapter in adapter/). Prints the largest logit difference between the merged model and the
backbone with the adapter applied by PEFT, on the references' token sequence.
"""
import sys

import torch
import transformers
from peft import PeftModel

root, family = sys.argv[1], sys.argv[2]
tokens = torch.tensor([[1, 403, 407, 261, 378, 285, 345, 288, 463, 301, 29, 15, 413, 404, 271, 338]])
merged = transformers.AutoModelForCausalLM.from_pretrained(f"{root}/{family}-merged").eval()
backbone = transformers.AutoModelForCausalLM.from_pretrained(f"{root}/{family}-bb").eval()
adapted = PeftModel.from_pretrained(backbone, f"{root}/{family}-bb/adapter").eval()
with torch.no_grad():
    a = merged(tokens).logits
    b = adapted(tokens).logits
print(f"{family}: {type(merged).__name__}; merged vs backbone + PEFT adapter: max |Δ logit| "
      f"{(a - b).abs().max().item():.3g} (logits up to {a.abs().max().item():.3g})")
