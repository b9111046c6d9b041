#!/usr/bin/env python3
"""What jinja2 renders for real chat templates, as the oracle of Loft's Jinja interpreter.

Every template of data/llama.cpp/models/templates/ (llama.cpp's 70, unpacked by scripts/setup.sh)
and of Tests/Resources/chat-templates/ is rendered on a fixed set of conversations, with and
without the generation prompt, by transformers' own `render_jinja_template` (jinja2's
ImmutableSandboxedEnvironment with trim_blocks, lstrip_blocks, loop controls, transformers'
tojson, raise_exception and namespace), exactly as `apply_chat_template` renders text. A render
that raises is recorded as an error (its message); Loft must raise too.

Run by hand (not in CI) from the repository root, in a venv with transformers and jinja2 (e.g.
../shared/peer-bench/setup.sh's, plus jinja2):
    /tmp/loft-peer-venv/bin/python scripts/references/make-chat-templates.py
Writes Tests/Resources/chat-templates/expected.json.
"""
import glob
import json
import os

import jinja2
import transformers
from transformers.utils.chat_template_utils import render_jinja_template

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "Tests", "Resources", "chat-templates", "expected.json")
FOLDERS = [("llama.cpp", os.path.join(ROOT, "data", "llama.cpp", "models", "templates")),
           ("resources", os.path.join(ROOT, "Tests", "Resources", "chat-templates"))]

# Fixed so that templates that print today's date (Llama 3.x) render the same every day.
DATE_STRING = "26 Jul 2024"


def turn(role, content):
    return {"role": role, "content": content}


CONVERSATIONS = [
    [turn("user", "Hello")],
    [turn("system", "You are a helpful assistant."), turn("user", "What is 2 + 3?")],
    [turn("system", "Answer briefly."), turn("user", "Hi"), turn("assistant", "Hello! How can I help?"),
     turn("user", "Name a colour."), turn("assistant", "Blue.")],
    [turn("user", "First question"), turn("assistant", "First answer"), turn("user", "Second question")],
    [turn("user", ""), turn("assistant", "")],
    [turn("user", "Grüße, 你好 🌍 — “quotes” 'single' \"double\" \\ back\n\ttabbed line"),
     turn("assistant", "  spaced answer  \n\nwith {{ braces }} and {% tags %}")],
    [turn("user", "Think: 12 * 4?"), turn("assistant", "<think>\n12 * 4 = 48\n</think>\n\n48")],
]

# The special tokens the models' tokenizers pass (transformers passes its special tokens map).
SPECIALS = {
    "meta-llama-Llama-3": ("<|begin_of_text|>", "<|eot_id|>"),
    "deepseek-ai-DeepSeek-R1-Distill": ("<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>"),
    "google-gemma": ("<bos>", "<eos>"),
    "Qwen": ("", "<|im_end|>"),
    "HuggingFaceTB": ("<|im_start|>", "<|im_end|>"),
    "smollm2": ("<|im_start|>", "<|im_end|>"),
    "microsoft-Phi-3.5": ("<s>", "<|endoftext|>"),
}


def specials(name):
    for prefix, tokens in SPECIALS.items():
        if name.startswith(prefix):
            return tokens
    return ("<s>", "</s>")


def main():
    templates = []
    for origin, folder in FOLDERS:
        for path in sorted(glob.glob(os.path.join(folder, "*.jinja"))):
            name = os.path.basename(path)
            with open(path, encoding="utf-8") as f:
                source = f.read()
            bos, eos = specials(name)
            renders = []
            for index, conversation in enumerate(CONVERSATIONS):
                for generation_prompt in (False, True):
                    entry = {"conversation": index, "generation_prompt": generation_prompt}
                    try:
                        rendered, _ = render_jinja_template(
                            [conversation], chat_template=source, add_generation_prompt=generation_prompt,
                            bos_token=bos, eos_token=eos, date_string=DATE_STRING)
                        entry["output"] = rendered[0]
                    except Exception as error:  # the template raised, or jinja2 refused it
                        entry["error"] = f"{type(error).__name__}: {error}"
                    renders.append(entry)
            templates.append({"origin": origin, "file": name, "bos_token": bos, "eos_token": eos,
                              "renders": renders})
    result = {"made_by": f"transformers {transformers.__version__}, jinja2 {jinja2.__version__}",
              "date_string": DATE_STRING, "conversations": CONVERSATIONS, "templates": templates}
    with open(OUT, "w", encoding="utf-8") as f:
        json.dump(result, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"{len(templates)} templates, {sum(len(t['renders']) for t in templates)} renders -> {OUT}")


if __name__ == "__main__":
    main()
