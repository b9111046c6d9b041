#!/usr/bin/env python3
"""Asks two OpenAI-compatible servers the same greedy chat questions and compares the answers.

Used by check_llama_server_lora.sh (llama-server --lora vs loft serve, by hand, not in CI).
Standard library only.

    python3 scripts/interop/compare_servers.py URL_A URL_B [--questions N] [--max-tokens T]
"""
import argparse
import json
import sys
import urllib.request


def ask(url, question, max_tokens):
    body = json.dumps({"messages": [{"role": "user", "content": question}], "max_tokens": max_tokens,
                       "temperature": 0}).encode()
    request = urllib.request.Request(url + "/v1/chat/completions", body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=600) as response:
        answer = json.load(response)
    return answer["choices"][0]["message"]["content"], answer["usage"]["prompt_tokens"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("a")
    parser.add_argument("b")
    parser.add_argument("--questions", type=int, default=5)
    parser.add_argument("--max-tokens", type=int, default=96)
    parser.add_argument("--data", default="data/gsm8k-chat/test.jsonl")
    args = parser.parse_args()
    with open(args.data) as lines:
        questions = [json.loads(line)["messages"][0]["content"] for _, line in zip(range(args.questions), lines)]
    equal = 0
    for index, question in enumerate(questions):
        (a, prompt_a), (b, prompt_b) = ask(args.a, question, args.max_tokens), ask(args.b, question, args.max_tokens)
        same = a == b and prompt_a == prompt_b
        equal += same
        print(f"[{index}] prompt tokens {prompt_a} / {prompt_b}: {'equal' if same else 'DIFFERENT'}")
        if not same:
            print(f"  A: {a!r}\n  B: {b!r}")
    print(f"{equal}/{len(questions)} greedy answers equal")
    sys.exit(0 if equal == len(questions) else 1)


if __name__ == "__main__":
    main()
