#!/usr/bin/env python3
"""The official `openai` Python client, unchanged, against `loft serve` (by hand, not in CI):
models, chat, chat streaming (with usage), completions, completions streaming, and the errors the
client raises for an unknown model, a bad field and a wrong API key.

    python -m venv /tmp/openai-venv && /tmp/openai-venv/bin/pip install openai
    loft serve --model data/models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf --port 18083 --api-key k
    /tmp/openai-venv/bin/python scripts/interop/check_openai_client.py http://127.0.0.1:18083/v1 k
"""
import sys

import openai


def main():
    base_url, key = sys.argv[1], sys.argv[2]
    client = openai.OpenAI(base_url=base_url, api_key=key)
    models = [model.id for model in client.models.list()]
    print("models:", models)
    model = models[0]
    question = [{"role": "user", "content": "What is the capital of France?"}]
    chat = client.chat.completions.create(model=model, messages=question, max_tokens=24, temperature=0)
    answer = chat.choices[0].message.content
    print("chat:", repr(answer), chat.choices[0].finish_reason, chat.usage)
    pieces, usage = [], None
    for chunk in client.chat.completions.create(model=model, messages=question, max_tokens=24, temperature=0,
                                                stream=True, stream_options={"include_usage": True}):
        if chunk.choices and chunk.choices[0].delta.content:
            pieces.append(chunk.choices[0].delta.content)
        usage = chunk.usage or usage
    print(f"stream: {len(pieces)} pieces, equal to chat: {''.join(pieces) == answer}, usage {usage}")
    assert "".join(pieces) == answer and usage.completion_tokens == chat.usage.completion_tokens
    completion = client.completions.create(model=model, prompt="The capital of France is", max_tokens=12, temperature=0)
    print("completion:", repr(completion.choices[0].text), completion.usage)
    streamed = "".join(chunk.choices[0].text for chunk in client.completions.create(
        model=model, prompt="The capital of France is", max_tokens=12, temperature=0, stream=True))
    assert streamed == completion.choices[0].text, (streamed, completion.choices[0].text)
    print("completion stream equal:", True)
    for name, call, expected in [
        ("unknown model", lambda: client.chat.completions.create(model="gpt-4o", messages=question), openai.NotFoundError),
        ("bad field", lambda: client.chat.completions.create(model=model, messages=question, top_p=7),
         openai.BadRequestError),
        ("wrong key", lambda: openai.OpenAI(base_url=base_url, api_key="nope").models.list(),
         openai.AuthenticationError),
    ]:
        try:
            call()
            raise SystemExit(f"{name}: no error")
        except expected as error:
            print(f"{name}: {type(error).__name__} {error.status_code}: {error.message}")
    print("openai client: all checks passed")


if __name__ == "__main__":
    main()
