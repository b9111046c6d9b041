#!/usr/bin/env python3
"""Tiny random Mistral and Qwen2 models as references for Loft's model families.

For each family: a Hugging Face folder made by transformers (2 layers, hidden 32, 4 heads over 2
KV heads, weights with std 0.15 and biases with std 0.5, so that a wrong RoPE layout, GQA map,
bias or tied head moves the logits by far more than 1e-3; with the usual std 0.02 attention is
nearly uniform and such bugs hide), the logits transformers computes for a fixed token sequence,
and the folder converted by llama.cpp's own convert_hf_to_gguf.py (from the llama-cpp-python
0.3.36 sdist that scripts/setup.sh fetched) to f32 and q8_0 GGUFs. The tokenizer is llama2.c's
tok512 (SentencePiece, 512 pieces), which the converter reads for both architectures.

Run by hand (not in CI) from the repository root, in a venv with torch, transformers, numpy,
sentencepiece and safetensors (e.g. ../shared/peer-bench/setup.sh's):
    /tmp/loft-peer-venv/bin/python scripts/references/make-families.py
Writes Tests/Resources/families/<family>/.
"""
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile

import torch
from safetensors.torch import save_file
import transformers

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "Tests", "Resources", "families")
SDIST = os.path.join(ROOT, "data", "downloads", "llama_cpp_python-0.3.36.tar.gz")
TOKENIZER = os.path.join(ROOT, "data", "models", "stories260K", "tok512.model")
TOKENS = [1, 403, 407, 261, 378, 285, 345, 288, 463, 301, 29, 15, 413, 404, 271, 338]

COMMON = dict(
    vocab_size=512, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
    num_key_value_heads=2, max_position_embeddings=128, rms_norm_eps=1e-5, rope_theta=10000.0,
    bos_token_id=1, eos_token_id=2, hidden_act="silu")

FAMILIES = {
    "mistral": (transformers.MistralConfig, transformers.MistralForCausalLM,
                dict(sliding_window=None, tie_word_embeddings=False)),
    "qwen2": (transformers.Qwen2Config, transformers.Qwen2ForCausalLM,
              dict(use_sliding_window=False, tie_word_embeddings=True)),
    "phi3": (transformers.Phi3Config, transformers.Phi3ForCausalLM,
             dict(sliding_window=None, tie_word_embeddings=False, pad_token_id=0)),
}


def converter(work):
    """llama.cpp's convert_hf_to_gguf.py and gguf-py, unpacked from the sdist into `work`."""
    prefix = "llama_cpp_python-0.3.36/vendor/llama.cpp/"
    with tarfile.open(SDIST) as archive:
        members = [m for m in archive.getmembers()
                   if m.name.startswith(tuple(prefix + p for p in ("convert_hf_to_gguf.py", "conversion/", "gguf-py/")))]
        archive.extractall(work, members=members, filter="data")
    return os.path.join(work, prefix)


def make(family, llama_cpp):
    config_type, model_type, extra = FAMILIES[family]
    torch.manual_seed({"mistral": 1, "qwen2": 2, "phi3": 3}[family])
    config = config_type(**COMMON, **extra)
    model = model_type(config).eval()
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "norm" in name:
                parameter.copy_(1 + 0.1 * torch.randn_like(parameter))
            elif name.endswith(".bias"):
                parameter.copy_(0.5 * torch.randn_like(parameter))
            else:
                parameter.copy_(0.15 * torch.randn_like(parameter))
        logits = model(torch.tensor([TOKENS])).logits[0].float().contiguous()
    folder = os.path.join(OUT, family)
    shutil.rmtree(folder, ignore_errors=True)
    model.save_pretrained(folder, safe_serialization=True)
    shutil.copy(TOKENIZER, os.path.join(folder, "tokenizer.model"))
    save_file({"logits": logits}, os.path.join(folder, "golden.safetensors"))
    with open(os.path.join(folder, "golden.json"), "w") as f:
        json.dump({"tokens": TOKENS, "transformers": transformers.__version__, "torch": torch.__version__}, f,
                  indent=1)
    env = dict(os.environ, PYTHONPATH=os.path.join(llama_cpp, "gguf-py"))
    for kind in ["f32", "q8_0"]:
        subprocess.run([sys.executable, os.path.join(llama_cpp, "convert_hf_to_gguf.py"), folder,
                        "--outtype", kind, "--outfile", os.path.join(folder, f"model-{kind}.gguf")],
                       check=True, env=env, stdout=subprocess.DEVNULL)
    print(family, "written to", folder)


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as work:
        llama_cpp = converter(work)
        for family in sys.argv[1:] or FAMILIES:
            make(family, llama_cpp)
