// Config editor: GET the document, edit, validate live (pct sums to 100, ranges), PUT with the
// version read (409 when someone saved in between), show the server's 422 reasons verbatim.
// Calls carry the tab's API key (auth.js; the config needs an admin key). Prompts and server
// reasons are merchant-controlled text: set as values and textContent, never as HTML.
(function () {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const auth = window.bundlestreamAuth;
  const WHAT = "the platform config (it needs an admin key)";
  const SORTS = ["price_desc", "price_asc", "rating", "popularity", "sponsored", "recent"];
  const PROMPT_MAX = 8000;
  let doc = null;

  function sliceRow(slice) {
    const tr = document.createElement("tr");
    tr.className = "slice";
    const sel = document.createElement("select");
    sel.className = "sort";
    for (const s of SORTS) sel.append(new Option(s, s, false, s === slice.sort));
    const limit = Object.assign(document.createElement("input"), { type: "number", className: "limit", min: 1, max: 100, value: slice.limit });
    const pct = Object.assign(document.createElement("input"), { type: "number", className: "pct", min: 0, max: 100, step: "any", value: slice.pct });
    const rm = Object.assign(document.createElement("button"), { type: "button", className: "remove secondary", textContent: "Remove" });
    rm.addEventListener("click", () => { tr.remove(); validate(); });
    for (const node of [sel, limit, pct, rm]) { const td = document.createElement("td"); td.append(node); tr.append(td); }
    for (const node of [sel, limit, pct]) { node.addEventListener("input", validate); node.addEventListener("change", validate); }
    return tr;
  }

  function readMix() {
    return [...document.querySelectorAll("#mix tr.slice")].map((tr) => ({
      sort: tr.querySelector(".sort").value,
      limit: Number(tr.querySelector(".limit").value),
      pct: Number(tr.querySelector(".pct").value),
    }));
  }

  function problems() {
    const out = [];
    const mix = readMix();
    const total = mix.reduce((a, s) => a + (Number.isFinite(s.pct) ? s.pct : NaN), 0);
    if (mix.length && !(Math.abs(total - 100) <= 0.01)) out.push(`Product mix pct must sum to 100 (now ${Number.isFinite(total) ? +total.toFixed(2) : "invalid"}).`);
    if (mix.some((s) => !(s.pct >= 0 && s.pct <= 100))) out.push("Each pct must be between 0 and 100.");
    if (mix.some((s) => !(Number.isInteger(s.limit) && s.limit >= 1 && s.limit <= 100))) out.push("Each limit must be a whole number 1-100.");
    const n = Number($("products_per_category").value);
    if (!(Number.isInteger(n) && n >= 1 && n <= 10)) out.push("Products per category must be 1-10.");
    const m = Number($("max_sponsored_per_query").value);
    if (!(Number.isInteger(m) && m >= 0 && m <= 10)) out.push("Max sponsored per query must be 0-10.");
    for (const ta of document.querySelectorAll("textarea[data-prompt]")) {
      if (!ta.value.trim()) out.push(`Prompt ${ta.dataset.prompt} must not be empty.`);
      if (ta.value.length > PROMPT_MAX) out.push(`Prompt ${ta.dataset.prompt} is longer than ${PROMPT_MAX} characters.`);
    }
    return { out, total };
  }

  function validate() {
    const { out, total } = problems();
    const status = $("pct-status");
    status.textContent = out.length ? out.join(" ") : `Product mix sums to ${+total.toFixed(2)}%.`;
    status.className = out.length ? "error" : "ok";
    $("save").disabled = out.length > 0;
    return out.length === 0;
  }

  function fill(d) {
    doc = d;
    const p = d.platform, c = p.composite_discovery_config;
    $("version").textContent = String(d.version);
    $("enable_composite_bundle_suggestion").checked = p.enable_composite_bundle_suggestion;
    $("products_per_category").value = c.products_per_category;
    $("sponsorship_enabled").checked = c.sponsorship_enabled;
    $("max_sponsored_per_query").value = c.max_sponsored_per_query;
    $("mix").replaceChildren(...c.product_mix.map(sliceRow));
    for (const ta of document.querySelectorAll("textarea[data-prompt]")) {
      ta.value = (d.prompts.prompts[ta.dataset.prompt] || {}).system_prompt || "";
    }
    validate();
  }

  async function load() {
    let res;
    try {
      res = await auth.fetch("/api/v1/config", {}, WHAT);
    } catch (e) {
      if (!(e instanceof auth.KeyProblem)) { $("result").textContent = String(e); $("result").className = "error"; }
      return;
    }
    const data = await res.json();
    if (!res.ok) { $("result").textContent = `Not loaded (HTTP ${res.status}): ${data.error}`; $("result").className = "error"; return; }
    $("result").textContent = "";
    fill(data);
  }

  function body() {
    const platform = structuredClone(doc.platform);
    platform.enable_composite_bundle_suggestion = $("enable_composite_bundle_suggestion").checked;
    Object.assign(platform.composite_discovery_config, {
      products_per_category: Number($("products_per_category").value),
      sponsorship_enabled: $("sponsorship_enabled").checked,
      max_sponsored_per_query: Number($("max_sponsored_per_query").value),
      product_mix: readMix(),
    });
    const prompts = structuredClone(doc.prompts);
    for (const ta of document.querySelectorAll("textarea[data-prompt]")) prompts.prompts[ta.dataset.prompt].system_prompt = ta.value;
    return { version: doc.version, platform, prompts, updated_by: "config page" };
  }

  $("config-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const result = $("result");
    if (!doc) { result.textContent = "Nothing loaded yet: enter an admin key first."; result.className = "error"; return; }
    if (!validate()) return;
    result.textContent = "saving…"; result.className = "muted";
    let res;
    try {
      res = await auth.fetch("/api/v1/config", { method: "PUT", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body()) }, WHAT);
    } catch (e) {
      result.textContent = e instanceof auth.KeyProblem ? `Not saved: ${e.message}.` : String(e);
      result.className = "error";
      return;
    }
    const data = await res.json();
    if (res.ok && data.platform) {
      fill(data);
      result.textContent = `Saved: version ${data.version}.`; result.className = "ok";
    } else if (res.ok) {
      result.textContent = `Accepted (version ${data.version}); reload to see it.`; result.className = "ok";
    } else {
      const details = (data.errors || []).map((e) => `${e.loc}: ${e.msg}`).join("; ");
      result.textContent = `Not saved (HTTP ${res.status}): ${data.error}${details && !data.error.includes(details) ? " — " + details : ""}`;
      result.className = "error";
    }
  });
  $("add-slice").addEventListener("click", () => { $("mix").append(sliceRow({ sort: "recent", limit: 10, pct: 0 })); validate(); });
  $("reload").addEventListener("click", () => { $("result").textContent = ""; load(); });
  document.querySelectorAll("#config-form input, #config-form textarea").forEach((n) => n.addEventListener("input", validate));
  auth.onKey(load);
  if (auth.hasKey()) load();
})();
