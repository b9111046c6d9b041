"""Tiny random Llama models in transformers for the config features Loft reads (RoPE scaling
llama3, linear and dynamic, an explicit head_dim), each saved as a Hugging Face folder with reference
logits, to set beside Loft's logits of the same folder. Not a test: run it in a scratch venv
with torch and transformers:

    python scripts/interop/tiny_models.py OUT
    # then, for each OUT/NAME: load OUT/NAME/model with Loft and compare with OUT/NAME/reference.json
"""
import json, os, sys

import torch
from transformers import LlamaConfig, LlamaForCausalLM

out = sys.argv[1]
common = dict(hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
              vocab_size=128, rope_theta=10000.0, tie_word_embeddings=False)
variants = {
    "llama3": dict(rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                 "original_max_position_embeddings": 16}),
    "linear": dict(rope_scaling={"rope_type": "linear", "factor": 4.0}),
    # 48 positions past max_position_embeddings 16: the frequencies follow the length
    "dynamic": dict(rope_scaling={"rope_type": "dynamic", "factor": 2.0}, max_position_embeddings=16),
    "head_dim": dict(head_dim=32),
}
for name, extra in variants.items():
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(**{"max_position_embeddings": 256, **common, **extra})).float().eval()
    folder = os.path.join(out, name)
    model.save_pretrained(os.path.join(folder, "model"), safe_serialization=True)
    ids = torch.tensor([[(i * 37) % 128 for i in range(48)]])
    with torch.no_grad():
        logits = model(input_ids=ids).logits[0]
        # one token at a time through the KV cache (dynamic RoPE: each step's frequencies follow
        # the length so far, and cached keys keep the ones they were rotated with)
        past, steps = None, []
        for t in range(ids.shape[1]):
            step = model(input_ids=ids[:, t:t + 1], past_key_values=past, use_cache=True)
            past = step.past_key_values
            steps.append(step.logits[0, -1])
        cached = torch.stack(steps)
    json.dump({"ids": ids[0].tolist(), "logits": logits.flatten().tolist(), "cached_logits": cached.flatten().tolist()},
              open(os.path.join(folder, "reference.json"), "w"))
    print(name, "written")
