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


# Small templates for the semantics real templates rely on (scoping, loop variables, filters,
# tests, string methods, slicing, whitespace control, JSON), rendered with the same environment.
SNIPPETS = [
    "{% set x = 1 %}{% for i in [1, 2] %}{% set x = x + i %}{{ x }},{% endfor %}{{ x }}",
    "{% for i in [1, 2, 3] %}{% if i == 2 %}{{ y }}{% endif %}{% set y = i %}{% endfor %}[{{ y }}]",
    "{% set ns = namespace(total=0) %}{% for i in range(5) %}{% set ns.total = ns.total + i %}{% endfor %}{{ ns.total }}",
    "{% for a in 'xyz' %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.first }}{{ loop.last }}{{ loop.length }}|{% endfor %}",
    "{% for i in range(10) if i is odd %}{{ i }}:{{ loop.index }}{% if loop.last %}!{% endif %} {% endfor %}",
    "{% for i in [] %}x{% else %}empty{% endfor %}",
    "{% for i in range(9) %}{% if i == 5 %}{% break %}{% endif %}{% if i is even %}{% continue %}{% endif %}{{ i }}{% endfor %}",
    "{% for k, v in {'b': 1, 'a': [1, 'x'], 'c': none}.items() %}{{ k }}={{ v }};{% endfor %}",
    "{{ {'a': 1, 'b': [true, none, 1.5, 'q\"u']} | tojson }}|{{ [1, {'x': 'é'}] | tojson(indent=2) }}",
    "{{ 'a\\nb\\tc\\u00e9\\\\' | tojson }}{{ {'k': 2, 'a': 1} | tojson(sort_keys=true) }}{{ {1: 2} | tojson }}",
    "{{ '  hi there  ' | trim }}|{{ 'xxhixx'.strip('x') }}|{{ '  a '.lstrip() }}|{{ ' a  '.rstrip() }}|",
    "{{ 'a,b,,c'.split(',') }}{{ ' a  b c '.split() }}{{ 'a b c'.split(' ', 1) }}{{ 'a-b-c'.rsplit('-', 1) }}",
    "{{ 'Hello'.startswith('He') }}{{ 'Hello'.endswith(('x', 'lo')) }}{{ 'hello world'.title() }}{{ 'hELLO'.capitalize() }}",
    "{{ 'abcdef'[1:4] }}{{ 'abcdef'[::-1] }}{{ 'abcdef'[-2:] }}{{ [1,2,3,4][1:] }}{{ [1,2,3,4][:-1] }}{{ [1,2,3][::2] }}",
    "{{ 'héllo wörld'|upper }}{{ 'ABC'|lower }}{{ [3,1,2]|sort }}{{ ['b','A','c']|sort }}{{ [1,2]|reverse|list }}",
    "{{ [1, 2, 3] | join(', ') }}|{{ [{'n': 'a'}, {'n': 'b'}] | map(attribute='n') | join }}|{{ ['a','B'] | map('upper') | list }}",
    "{{ x | default('d') }}{{ '' | default('e', true) }}{{ none | default('f') }}{{ false | default('g', boolean=true) }}",
    "{{ x is defined }}{{ none is none }}{{ 'a' is string }}{{ 1 is number }}{{ 1.0 is float }}{{ {} is mapping }}{{ [] is iterable }}{{ true is boolean }}{{ 3 is divisibleby 3 }}{{ 'a' is in 'abc' }}",
    "{{ 1 + 2 * 3 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 7 / 2 }} {{ 2 ** 10 }} {{ 1 + 1.5 }} {{ 'a' ~ 1 ~ none }} {{ 'ab' * 3 }}",
    "{{ 1 < 2 < 3 }}{{ 'b' > 'a' }}{{ 1 == 1.0 }}{{ [1] == [1] }}{{ 'x' in ['x'] }}{{ 'k' in {'k': 1} }}{{ 'q' not in 'abc' }}{{ not 0 }}",
    "{{ 'yes' if 1 else 'no' }}{{ 'yes' if 0 }}|{{ none or 'b' }}{{ 'a' and 'c' }}{{ 0 and 1 }}",
    "{% macro greet(name, punctuation='!') %}Hi {{ name }}{{ punctuation }}{% endmacro %}{{ greet('A') }} {{ greet('B', '?') }} {{ greet(name='C', punctuation='.') }}",
    "{% set block %}inner {{ 1 + 1 }}{% endset %}[{{ block }}]{% filter upper %}shout {{ 'x' }}{% endfilter %}",
    "  {% if true %}\n    indented\n  {% endif %}\nnext\n{{- ' stripped' -}}\n  end\n",
    "a  {%- if true -%}  b  {%- endif -%}  c {# comment #}\n d {#- strip -#} e\n{%+ if true %}keep{% endif %}",
    "{{ [1, 'a', none, true, 1.5, {'k': 'v'}] }}{{ {'a': 'b'} }}{{ \"it's\" }}{{ ['it\\'s'] }}",
    "{{ '{} and {}'.format('x', 2) }}|{{ '{0}{1}{0}'.format('a', 'b') }}|{{ '{name}!'.format(name='N') }}",
    "{{ 'a b c' | replace(' ', '-') }}{{ 'aaa'.replace('a', 'b', 2) }}{{ 'abcabc'.find('c') }}{{ 'abc'.count('x') }}",
    "{{ messages | selectattr('role', 'equalto', 'user') | list | length }}{{ messages | rejectattr('role', 'equalto', 'user') | map(attribute='content') | join('+') }}",
    "{{ 'line1\nline2\n\nline4' | indent(2) }}|{{ 'a\nb' | indent(4, true) }}|{{ 'x\n\ny' | indent(2, blank=true) }}",
    "{{ [3, 1, 2] | max }}{{ [3, 1, 2] | min }}{{ [1, 2, 3] | sum }}{{ [1, 1, 'a', 'A'] | unique | list }}{{ {'b': 1, 'a': 2} | dictsort }}",
    "{{ '42' | int + 1 }}{{ '4.5' | float }}{{ 'x' | int }}{{ 3.7 | int }}{{ -3 | abs }}{{ 2.567 | round(2) }}{{ 1 | string ~ 2 }}",
    "{{ messages[0].role }}{{ messages[-1]['content'] }}{{ messages[5] is defined }}{{ messages[0].missing is defined }}{{ (messages | first).role }}{{ (messages | last).role }}",
    "{{ raise_exception('stop here') }}",
    "{{ undefined_name.attribute }}",
    "{{ 1 + 'a' }}",
    "{{ [].append(1) }}",
    "{% for x in none %}{% endfor %}",
    "{{ 'x' | tojson }}{{ none | tojson }}{{ 1.0 | tojson }}{{ 2 | tojson }}{{ '<>&\\'' | tojson }}",
    "{{ (1, 2) }}{% set a, b = 1, 2 %}{{ a }}{{ b }}{% set t = [1, 2] %}{% set c, d = t %}{{ d }}{{ c }}",
    "{% set d = {'x': {'y': [1, {'z': 'deep'}]}} %}{{ d.x.y[1].z }}{{ d['x']['y'][0] }}{{ d.get('x').get('q', 'dflt') }}{{ d.keys() | list }}",
    "{% for m in messages %}{{ loop.previtem.role if loop.previtem is defined else '-' }}>{{ loop.nextitem.role if loop.nextitem is defined else '-' }} {% endfor %}",
]
SNIPPET_MESSAGES = [turn("system", "S"), turn("user", "U1"), turn("assistant", "A1"), turn("user", "U2")]


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
    snippets = []
    for source in SNIPPETS:
        entry = {"source": source}
        try:
            rendered, _ = render_jinja_template([SNIPPET_MESSAGES], chat_template=source)
            entry["output"] = rendered[0]
        except Exception as error:
            entry["error"] = f"{type(error).__name__}: {error}"
        snippets.append(entry)
    result = {"made_by": f"transformers {transformers.__version__}, jinja2 {jinja2.__version__}",
              "date_string": DATE_STRING, "conversations": CONVERSATIONS, "templates": templates,
              "snippet_messages": SNIPPET_MESSAGES, "snippets": snippets}
    with open(OUT, "w", encoding="utf-8") as f:
        json.dump(result, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"{len(templates)} templates, {sum(len(t['renders']) for t in templates)} renders -> {OUT}")


if __name__ == "__main__":
    main()
