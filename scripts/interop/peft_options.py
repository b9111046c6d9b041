"""Makes a PEFT LoRA adapter with the options Loft reads beyond plain LoRA (rank_pattern,
alpha_pattern, use_rslora, layers_to_transform; random non-zero factors) on a Hugging Face
Llama folder, and prints PEFT's loss on fixed token ids, to set beside Loft's on the same ids:

    python scripts/interop/peft_options.py BASE_FOLDER OUT_FOLDER
    loft eval … (see docs/PERFORMANCE.md or the closing note for the Loft side)
"""
import sys

import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM

base_folder, out = sys.argv[1], sys.argv[2]
torch.manual_seed(0)
base = AutoModelForCausalLM.from_pretrained(base_folder, dtype=torch.float32, attn_implementation="eager")
config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "down_proj"], use_rslora=True,
                    rank_pattern={"self_attn.q_proj": 2}, alpha_pattern={"down_proj": 3}, layers_to_transform=[0, 2],
                    init_lora_weights=False, task_type="CAUSAL_LM")
model = get_peft_model(base, config)
for name, p in model.named_parameters():
    if "lora_" in name:
        with torch.no_grad():
            p.copy_(torch.randn_like(p) * 0.1)
model.save_pretrained(out)
ids = torch.tensor([[1, 403, 261, 365, 411, 268, 304, 297, 308, 280, 324, 266, 259, 500, 39, 14]])
with torch.no_grad():
    print(f"PEFT loss {model(input_ids=ids, labels=ids).loss.item():.7f}")
    with model.disable_adapter():
        print(f"base loss {model(input_ids=ids, labels=ids).loss.item():.7f}")
