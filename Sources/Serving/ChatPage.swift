/// `GET /`: one self-contained chat page (no external asset) that streams answers from
/// `/v1/chat/completions` and keeps the conversation in the page.
enum ChatPage {
    static let html = #"""
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>Loft chat</title>
        <style>
        body{font:15px/1.45 system-ui,sans-serif;margin:0;background:#f4f5f7;color:#1d2330}
        header{display:flex;gap:.6em;align-items:center;padding:.6em 1em;background:#1d2330;color:#fff}
        header h1{font-size:1.05em;margin:0 1em 0 0}
        header select,header input{font:inherit;padding:.2em .4em}
        #log{max-width:52em;margin:0 auto;padding:1em;display:flex;flex-direction:column;gap:.7em}
        .turn{padding:.6em .9em;border-radius:.6em;white-space:pre-wrap;max-width:85%}
        .user{align-self:flex-end;background:#2f6fde;color:#fff}
        .assistant{align-self:flex-start;background:#fff;border:1px solid #d8dce3}
        .error{align-self:center;color:#b00020}
        form{max-width:52em;margin:0 auto;padding:0 1em 1em;display:flex;gap:.5em}
        textarea{flex:1;font:inherit;padding:.5em;min-height:3em}
        button{font:inherit;padding:.4em 1.2em}
        #stats{font-size:.8em;color:#c8cdd6;margin-left:auto}
        </style></head>
        <body>
        <header><h1>Loft chat</h1>
        <label>model <select id="model"></select></label>
        <label>temperature <input id="temperature" type="number" min="0" max="2" step="0.1" value="0" size="3"></label>
        <label>API key <input id="key" type="password" size="12" placeholder="(none)"></label>
        <span id="stats"></span></header>
        <div id="log"></div>
        <form id="form"><textarea id="input" placeholder="Message (Enter sends, Shift+Enter for a new line)"></textarea>
        <button id="send">Send</button><button id="reset" type="button">New chat</button></form>
        <script>
        const $ = id => document.getElementById(id);
        let messages = [];
        function headers() {
          const h = {"Content-Type": "application/json"};
          if ($("key").value) h["Authorization"] = "Bearer " + $("key").value;
          return h;
        }
        function add(role, text) {
          const div = document.createElement("div");
          div.className = "turn " + role; div.textContent = text;
          $("log").appendChild(div); window.scrollTo(0, document.body.scrollHeight);
          return div;
        }
        async function loadModels() {
          try {
            const r = await fetch("/v1/models", {headers: headers()});
            const j = await r.json();
            if (!r.ok) throw new Error(j.error ? j.error.message : r.status);
            $("model").innerHTML = "";
            for (const m of j.data) {
              const o = document.createElement("option"); o.textContent = m.id; $("model").appendChild(o);
            }
          } catch (e) { add("error", "models: " + e.message); }
        }
        async function send(text) {
          messages.push({role: "user", content: text}); add("user", text);
          const out = add("assistant", ""); let answer = ""; const start = performance.now(); let pieces = 0;
          $("send").disabled = true; document.body.dataset.state = "streaming";
          try {
            const r = await fetch("/v1/chat/completions", {method: "POST", headers: headers(), body: JSON.stringify({
              model: $("model").value, messages, stream: true, temperature: Number($("temperature").value)})});
            if (!r.ok) { const j = await r.json(); throw new Error(j.error.message); }
            const reader = r.body.getReader(); const decoder = new TextDecoder(); let buffer = "";
            for (;;) {
              const {value, done} = await reader.read(); if (done) break;
              buffer += decoder.decode(value, {stream: true});
              let cut;
              while ((cut = buffer.indexOf("\n\n")) >= 0) {
                const event = buffer.slice(0, cut); buffer = buffer.slice(cut + 2);
                if (!event.startsWith("data: ")) continue;
                const data = event.slice(6); if (data === "[DONE]") continue;
                const j = JSON.parse(data);
                if (j.error) throw new Error(j.error.message);
                const piece = j.choices.length ? (j.choices[0].delta.content || "") : "";
                if (piece) { answer += piece; pieces++; out.textContent = answer; }
              }
            }
            messages.push({role: "assistant", content: answer});
            $("stats").textContent = pieces + " pieces in " + ((performance.now() - start) / 1000).toFixed(2) + " s";
          } catch (e) { messages.pop(); add("error", e.message); }
          $("send").disabled = false; document.body.dataset.state = "idle";
        }
        $("form").addEventListener("submit", e => {
          e.preventDefault(); const text = $("input").value.trim(); if (!text) return;
          $("input").value = ""; send(text);
        });
        $("input").addEventListener("keydown", e => {
          if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); $("form").requestSubmit(); }
        });
        $("reset").addEventListener("click", () => { messages = []; $("log").innerHTML = ""; });
        $("key").addEventListener("change", loadModels);
        // `/?q=…` asks its question on load (how scripts check the page in a headless browser).
        loadModels().then(() => { const q = new URLSearchParams(location.search).get("q"); if (q) send(q); });
        </script></body></html>
        """#
}
