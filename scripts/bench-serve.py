#!/usr/bin/env python3
"""Load test of an OpenAI-compatible server (`loft serve`, `llama-server`), by hand, not in CI:
C concurrent clients each send R streaming chat requests (GSM8K questions, greedy, max_tokens
T) one after another. Reports errors, aggregate completion tokens/s over the wall time, and the
p50/p99 time to first token — as JSON on the last line.

    /tmp/venv/bin/pip install aiohttp
    python scripts/bench-serve.py http://127.0.0.1:18083 --clients 32 --requests 4 --max-tokens 64
"""
import argparse
import asyncio
import json
import statistics
import time

import aiohttp


def percentile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


async def one_request(session, url, question, max_tokens):
    body = {"messages": [{"role": "user", "content": question}], "max_tokens": max_tokens, "temperature": 0,
            "stream": True, "stream_options": {"include_usage": True}}
    start = time.perf_counter()
    first, tokens, buffer = None, 0, b""
    async with session.post(url + "/v1/chat/completions", json=body) as response:
        if response.status != 200:
            raise RuntimeError(f"HTTP {response.status}: {(await response.text())[:200]}")
        async for data in response.content.iter_any():
            buffer += data
            while b"\n\n" in buffer:
                event, buffer = buffer.split(b"\n\n", 1)
                if not event.startswith(b"data: ") or event == b"data: [DONE]":
                    continue
                chunk = json.loads(event[6:])
                if chunk.get("usage"):
                    tokens = chunk["usage"]["completion_tokens"]
                if chunk.get("choices") and chunk["choices"][0].get("delta", {}).get("content") and first is None:
                    first = time.perf_counter() - start
    return first if first is not None else time.perf_counter() - start, tokens, time.perf_counter() - start


async def client(session, url, questions, max_tokens, results, errors):
    for question in questions:
        try:
            results.append(await one_request(session, url, question, max_tokens))
        except Exception as error:  # counted and shown, the run goes on
            errors.append(str(error))


async def run(args):
    with open(args.data) as lines:
        pool = [json.loads(line)["messages"][0]["content"] for _, line in zip(range(512), lines)]
    results, errors = [], []
    timeout = aiohttp.ClientTimeout(total=3600)
    async with aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(limit=0, force_close=True)) as session:
        start = time.perf_counter()
        await asyncio.gather(*[
            client(session, args.url, [pool[(c * args.requests + r) % len(pool)] for r in range(args.requests)],
                   args.max_tokens, results, errors)
            for c in range(args.clients)])
        wall = time.perf_counter() - start
    ttft = [r[0] for r in results]
    tokens = sum(r[1] for r in results)
    report = {
        "url": args.url, "clients": args.clients, "requests_each": args.requests, "max_tokens": args.max_tokens,
        "completed": len(results), "errors": len(errors), "completion_tokens": tokens, "wall_s": round(wall, 2),
        "tokens_per_s": round(tokens / wall, 1), "ttft_p50_s": round(statistics.median(ttft), 3) if ttft else None,
        "ttft_p99_s": round(percentile(ttft, 99), 3) if ttft else None,
        "request_p50_s": round(statistics.median(r[2] for r in results), 3) if results else None,
    }
    for error in errors[:3]:
        print("error:", error)
    print(json.dumps(report))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--requests", type=int, default=4)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--data", default="data/gsm8k-chat/test.jsonl")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
