#!/usr/bin/env python3
"""GSM8K as chat conversations, for `data.dataset: chat` (configs/smollm2-chat.yaml).

Each problem becomes {"messages": [user, assistant]}: the user's turn is the question followed by
the LoftQ instruction line, the assistant's the worked answer with `####` written as
`The final answer is: ` — the same texts as Loft's GSM8K format (GSM8K.Problem.chat), so that
`loft eval --gsm8k --chat` asks exactly what training taught. Standard library only.

    python3 scripts/gsm8k-to-chat.py [data/gsm8k] [data/gsm8k-chat]
"""
import json
import os
import sys

INSTRUCTION = "\nAnswer the above question. First think step by step and then answer the final number.\n"


def convert(source, target):
    count = 0
    with open(source, encoding="utf-8") as lines, open(target + ".partial", "w", encoding="utf-8") as out:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                problem = json.loads(line)
                question, answer = problem["question"], problem["answer"]
            except (ValueError, KeyError) as error:
                sys.exit(f"{source}:{number}: {error}")
            messages = [
                {"role": "user", "content": question + INSTRUCTION},
                {"role": "assistant", "content": answer.replace("####", "The final answer is: ")},
            ]
            out.write(json.dumps({"messages": messages}, ensure_ascii=False) + "\n")
            count += 1
    os.replace(target + ".partial", target)
    return count


def main():
    source = sys.argv[1] if len(sys.argv) > 1 else "data/gsm8k"
    target = sys.argv[2] if len(sys.argv) > 2 else "data/gsm8k-chat"
    os.makedirs(target, exist_ok=True)
    for split in ("train", "test"):
        count = convert(os.path.join(source, f"{split}.jsonl"), os.path.join(target, f"{split}.jsonl"))
        print(f"gsm8k-to-chat: {count} conversations -> {target}/{split}.jsonl")


if __name__ == "__main__":
    main()
