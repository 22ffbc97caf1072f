// Chat demo: POST a turn, long-poll the session's replies (written by the chat agent from Kafka),
// render questions / options / listings, and turn "Add this bundle" into one add-bulk call.
// Every call carries the tab's API key (auth.js). Product names, descriptions and replies are
// merchant- or model-controlled text: they become text nodes, never HTML.
(function () {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const auth = window.bundlestreamAuth;
  const storeName = () => `store ${JSON.stringify($("store").value.trim())}`;
  const params = new URLSearchParams(location.search);
  if (params.get("store")) $("store").value = params.get("store");
  const uuid = () => (window.crypto && crypto.randomUUID ? crypto.randomUUID() : "s-" + Date.now().toString(36) + Math.random().toString(36).slice(2));
  let session = params.get("session") || uuid();
  let after = 0;
  let bundleId = null;
  let polling = false;
  $("session").textContent = session;

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (/html/i.test(k)) throw new Error(`el(): ${k} would parse markup`);
      if (k === "class") node.className = v; else if (k.startsWith("data-")) node.setAttribute(k, v); else node[k] = v;
    }
    for (const c of children) if (c != null) node.append(c);  // strings become text nodes
    return node;
  }
  const money = (n, cur) => (cur === "USD" ? "$" : (cur || "") + " ") + Number(n).toFixed(2);

  function renderReply(r) {
    const names = {};
    for (const l of r.categories || []) for (const p of l.products) names[p.product_id] = p;
    const box = el("div", { class: "reply turn", "data-kind": r.kind, "data-reply-id": r.reply_id });
    if (r.message) box.append(el("p", { class: "message" }, r.message));
    if (r.kind === "questions" && r.questions.length) {
      box.append(el("ul", { class: "questions" }, ...r.questions.map((q) => el("li", {}, q))));
    }
    for (const [i, o] of (r.options || []).entries()) {
      const letter = String.fromCharCode(65 + i);
      const items = o.product_ids.map((id) => (names[id] ? names[id].name : id)).join(" + ");
      const btn = el("button", { class: "add-bundle", type: "button" }, "Add this bundle");
      btn.addEventListener("click", () => addBundle(o, r, btn));
      box.append(el("div", { class: "option", "data-label": o.label },
        el("div", { class: "label" }, `Option ${letter}: ${o.label} – ${items} (${money(o.total_price, o.currency)})`),
        o.description ? el("div", { class: "muted" }, o.description) : null, btn));
    }
    for (const l of r.categories || []) {
      box.append(el("div", { class: "listing", "data-category": l.category },
        el("strong", {}, l.category),
        el("ul", {}, ...l.products.map((p) => el("li", { "data-product-id": p.product_id },
          `${p.name} – ${money(p.price, p.currency)}${p.sponsored ? " (sponsored)" : ""}`)))));
    }
    box.append(el("div", { class: "muted" }, `${r.kind} · ${r.generated_by}${r.fallback_reason ? " (" + r.fallback_reason + ")" : ""} · ${Math.round(r.latency_ms)} ms`));
    $("log").append(box);
    box.scrollIntoView({ block: "nearest" });
  }

  async function poll() {
    if (polling) return;
    polling = true;
    try {
      for (let i = 0; i < 4; i++) {
        const res = await auth.fetch(`/api/v1/chat/sessions/${encodeURIComponent(session)}/replies?after=${after}&wait=10`, {}, storeName());
        if (!res.ok) throw new Error(`replies: HTTP ${res.status}`);
        const data = await res.json();
        for (const r of data.replies) { after = Math.max(after, r.seq); renderReply(r); }
        if (data.replies.length) { $("status").textContent = ""; break; }
      }
    } catch (e) {
      $("status").textContent = e instanceof auth.KeyProblem ? "" : String(e);
    } finally {
      polling = false;
    }
  }

  async function send(text) {
    $("log").append(el("div", { class: "turn user" }, el("span", {}, text)));
    $("status").textContent = "waiting for the reply…";
    let res;
    try {
      res = await auth.fetch("/api/v1/chat/turns", {
        method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ session_id: session, store_id: $("store").value.trim(), text }),
      }, storeName());
    } catch (e) {
      $("status").textContent = e instanceof auth.KeyProblem ? "not sent: " + e.message : String(e);
      return;
    }
    const body = await res.json();
    if (res.status !== 202) { $("status").textContent = body.error || `HTTP ${res.status}`; return; }
    await poll();
  }

  async function addBundle(option, reply, btn) {
    btn.disabled = true;
    const payload = { product_ids: option.product_ids, option_label: option.label,
                      session_id: session, store_id: reply.store_id };
    if (bundleId) payload.bundle_id = bundleId;
    const what = `store ${JSON.stringify(reply.store_id)}`;
    let res, doc;
    try {
      res = await auth.fetch("/api/v1/bundle/add-bulk", {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(payload),
      }, what);
    } catch (e) {
      btn.disabled = false;
      $("status").textContent = e instanceof auth.KeyProblem ? "not added: " + e.message : String(e);
      return;
    }
    const body = await res.json();
    btn.disabled = false;
    if (!res.ok) { $("status").textContent = body.error || `HTTP ${res.status}`; return; }
    bundleId = body.bundle_id;
    try {
      doc = await (await auth.fetch(`/api/v1/bundles/${encodeURIComponent(bundleId)}`, {}, what)).json();
    } catch (e) {
      $("status").textContent = String(e.message || e);
      return;
    }
    $("bundle-id").textContent = body.bundle_id;
    $("bundle-total").textContent = money(body.total_price, body.currency);
    $("bundle-products").replaceChildren(...(doc.products || []).map((p) =>
      el("li", { "data-product-id": p.product_id }, `${p.name} – ${money(p.price, doc.currency)}`)));
    $("bundle-added").textContent = body.products_added.length
      ? `Added: ${body.products_added.join(", ")}` : "Already in the bundle.";
    $("bundle").hidden = false;
  }

  $("chat").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const text = $("message").value.trim();
    if (!text) return;
    $("message").value = "";
    send(text);
  });
  $("new-session").addEventListener("click", () => {
    session = uuid(); after = 0; bundleId = null;
    $("session").textContent = session; $("log").replaceChildren(); $("bundle").hidden = true;
  });
})();
