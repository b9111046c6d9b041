"""Loads a `loft export --gguf` file in llama.cpp (llama-cpp-python) and prints the perplexity of
loft's hf protocol (WikiText rows, concatenated, blocks of SEQ tokens, every position scored), to
set beside `loft eval --perplexity --json` on the same file and text. Not a test:

    pip install llama-cpp-python      # builds llama.cpp (about 20 minutes on 2 cores)
    python scripts/interop/check_gguf.py MODEL.gguf TEXT SEQ
"""
import math, sys

import numpy as np
from llama_cpp import Llama

path, text_path, seq = sys.argv[1], sys.argv[2], int(sys.argv[3])
llm = Llama(model_path=path, n_ctx=seq, logits_all=True, n_threads=2, verbose=False)
lines = open(text_path, encoding="utf-8").read().split("\n")
if lines and lines[-1] == "":
    lines.pop()
stream = []
for line in lines:
    row = "" if line in ("", " ") else line + "\n"
    # as loft's hf protocol: every row with BOS where the vocabulary adds one (SentencePiece
    # models; an empty row is then BOS alone), nothing for byte-level BPE vocabularies like SmolLM2's
    stream += llm.tokenize(row.encode("utf-8"), add_bos=True, special=False)
blocks = [stream[i:i + seq] for i in range(0, len(stream) - seq + 1, seq)]
total, count = 0.0, 0
for block in blocks:
    llm.reset()
    llm.eval(block)
    logits = np.array(llm.scores[:len(block)], dtype=np.float64)
    for t in range(len(block) - 1):
        row = logits[t]
        top = row.max()
        total += (top + math.log(np.exp(row - top).sum())) - row[block[t + 1]]
        count += 1
print(f"llama.cpp: {len(blocks)} blocks, {count} targets, mean NLL {total / count:.7f}, perplexity {math.exp(total / count):.5f}")
print("first block ids:", blocks[0][:16] if blocks else [])
