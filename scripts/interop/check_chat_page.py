#!/usr/bin/env python3
"""`loft serve`'s chat page (GET /) in headless Chromium (Debian's `chromium`, driven by
Playwright; by hand, not in CI): the page loads with no request outside the server, lists the
models, a typed question streams an answer into the page, the answer equals the API's own
greedy answer, and a screenshot is written.

    apt-get install chromium && pip install playwright     # no browser download: Debian's is used
    loft serve --model data/models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf --port 18083
    python scripts/interop/check_chat_page.py http://127.0.0.1:18083 /tmp/chat-page.png
"""
import json
import sys
import urllib.parse
import urllib.request

from playwright.sync_api import sync_playwright

QUESTIONS = ["What is the capital of France?", "And what is it famous for?"]


def api_answer(base, messages):
    body = json.dumps({"messages": messages, "temperature": 0}).encode()
    request = urllib.request.Request(base + "/v1/chat/completions", body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request) as response:
        return json.load(response)["choices"][0]["message"]["content"]


def main():
    base, screenshot = sys.argv[1], sys.argv[2]
    host = urllib.parse.urlparse(base).netloc
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1000, "height": 720})
        outside = []
        page.on("request", lambda r: outside.append(r.url) if urllib.parse.urlparse(r.url).netloc != host else None)
        page.goto(base + "/")
        page.wait_for_function("document.querySelectorAll('#model option').length > 0")
        models = page.eval_on_selector_all("#model option", "options => options.map(o => o.textContent)")
        print("models in the page:", models)
        history = []
        for question in QUESTIONS:
            page.fill("#input", question)
            page.press("#input", "Enter")
            page.wait_for_function("document.body.dataset.state === 'idle'", timeout=120_000)
            shown = page.eval_on_selector_all(".assistant", "turns => turns.map(t => t.textContent)")[-1]
            history.append({"role": "user", "content": question})
            expected = api_answer(base, history)
            history.append({"role": "assistant", "content": expected})
            print(f"{question!r} -> {shown!r}\n  equal to the API's answer: {shown == expected}")
            assert shown == expected, (shown, expected)
        page.screenshot(path=screenshot, full_page=True)
        errors = page.eval_on_selector_all(".error", "e => e.map(x => x.textContent)")
        assert not errors, errors
        assert not outside, f"requests outside the server: {outside}"
        print(f"no request outside {host}; screenshot: {screenshot}")
        browser.close()


if __name__ == "__main__":
    main()
