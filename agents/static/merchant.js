// The merchant's bundle page: the store's latest bundle set and its live performance.
//
// The store comes from the address (/stores/<store>); the data from two calls with the tab's key
// (auth.js): GET /api/v1/stores/<store>/bundles and .../bundles/performance (404 there means no
// live data yet). Product titles, categories, rationales and server reasons are merchant- or
// server-controlled text: they are set as textContent, never parsed as HTML. Images are shown
// only for https addresses (the page's CSP allows https images and nothing else from outside).
(function () {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const auth = window.bundlestreamAuth;
  const SVG = "http://www.w3.org/2000/svg";
  const segment = location.pathname.replace(/^\/stores\//, "").split("/")[0] || "";
  let store = segment;
  try { store = decodeURIComponent(segment); } catch (e) { /* the server only serves safe ids */ }
  const base = `/api/v1/stores/${encodeURIComponent(store)}`;
  const WHAT = `store "${store}"`;
  const GATES = [
    ["total_candidates", "Candidates"],
    ["rejected_out_of_stock", "Rejected: out of stock"],
    ["rejected_low_margin", "Rejected: low margin"],
    ["rejected_low_support", "Rejected: low support"],
    ["rejected_price_invalid", "Rejected: invalid price"],
    ["rejected_incompatible_categories", "Rejected: incompatible categories"],
    ["passed", "Passed"],
  ];

  // el("div", {className: "x"}, child, "text", ...): children are nodes or plain text.
  function el(tag, props, ...children) {
    const node = Object.assign(document.createElement(tag), props || {});
    for (const c of children) if (c !== null && c !== undefined) node.append(c instanceof Node ? c : String(c));
    return node;
  }

  function svg(tag, attrs, text) {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
    if (text !== undefined) node.textContent = String(text);
    return node;
  }

  function money(value, currency) {
    if (typeof value !== "number" || !Number.isFinite(value)) return "–";
    try {
      return new Intl.NumberFormat("en-US", { style: "currency", currency: currency || "USD" }).format(value);
    } catch (e) {
      return `${value.toFixed(2)} ${currency || ""}`.trim();
    }
  }

  const pct = (value) => (typeof value === "number" && Number.isFinite(value) ? `${+value.toFixed(1)}%` : "unknown");
  const words = (value) => String(value || "").replace(/_/g, " ");

  function say(text, kind) {
    const status = $("load-status");
    status.textContent = text;
    status.className = kind || "muted";
    status.hidden = !text;
  }

  function clear() {
    for (const id of ["summary", "objectives", "gates", "live", "bundles-section"]) $(id).hidden = true;
    for (const id of ["facts", "objective-chart", "gate-rows", "bundles"]) $(id).replaceChildren();
    $("generated").textContent = "";
  }

  function fact(label, value) {
    return [el("dt", null, label), el("dd", null, value)];
  }

  function showSummary(set) {
    const m = set.metrics || {};
    $("facts").replaceChildren(
      ...fact("Upload", set.upload_id),
      ...fact("Status", set.status),
      ...fact("Bundles", (set.bundles || []).length),
      ...fact("Catalog", `${m.catalog_size || 0} products`),
      ...fact("Orders", `${m.transactions || 0}${m.cold_start ? " (cold start)" : ""}`),
      ...fact("Generated", set.generated_at ? new Date(set.generated_at).toLocaleString() : "–"),
    );
    $("set-error").hidden = !set.error;
    $("set-error").textContent = set.error ? `Generation failed: ${set.error}` : "";
    $("generated").textContent = set.generated_at ? `generated ${new Date(set.generated_at).toLocaleString()}` : "";
    $("summary").hidden = false;
  }

  // Horizontal bars, one per objective, sorted by rank: length = priority relative to the top
  // one; the label says benefit and confidence; the selected objectives are drawn solid.
  function showObjectives(metrics) {
    const entries = Object.entries(metrics.objective_selection || {}).sort((a, b) => a[1].rank - b[1].rank);
    if (!entries.length) return;
    const selected = new Set(metrics.selected_objectives || []);
    const top = Math.max(...entries.map(([, s]) => s.priority), 1e-9);
    const row = 26, labelW = 140, barW = 220, width = labelW + barW + 210;
    const chart = svg("svg", {
      id: "objective-svg", viewBox: `0 0 ${width} ${entries.length * row + 6}`, width: "100%",
      role: "img", "aria-label": "Objective priorities",
    });
    entries.forEach(([name, s], i) => {
      const y = i * row + 4;
      const w = Math.max(2, (barW * Math.max(0, s.priority)) / top);
      const g = svg("g", { class: "objective" + (selected.has(name) ? " selected" : ""), "data-objective": name });
      g.append(
        svg("text", { x: labelW - 8, y: y + 15, "text-anchor": "end", class: "name" }, words(name)),
        svg("rect", { x: labelW, y, width: w, height: row - 8, rx: 3, class: "bar" }),
        svg("text", { x: labelW + w + 6, y: y + 15, class: "value" },
          `${s.priority.toFixed(3)} (benefit ${s.benefit.toFixed(2)}, conf. ${s.confidence.toFixed(2)})`),
        svg("title", {}, `${words(name)}: rank ${s.rank}, priority ${s.priority}, benefit ${s.benefit}, confidence ${s.confidence}`),
      );
      chart.append(g);
    });
    $("objective-chart").replaceChildren(chart, el("p", { className: "muted legend" },
      el("span", { className: "swatch selected" }), " selected  ", el("span", { className: "swatch" }), " not selected"));
    $("objectives").hidden = false;
  }

  function showGates(gates) {
    const total = Math.max(gates.total_candidates || 0, 1);
    $("gate-rows").replaceChildren(...GATES.map(([key, label]) => {
      const n = gates[key] || 0;
      const bar = el("span", { className: "gate-bar" + (key.startsWith("rejected") ? " rejected" : "") + (n ? "" : " zero") });
      bar.style.width = `${Math.round((100 * n) / total)}%`;
      const tr = el("tr", { className: "gate" }, el("th", null, label), el("td", { className: "num" }, n), el("td", { className: "barcell" }, bar));
      tr.dataset.gate = key;
      return tr;
    }));
    $("gates").hidden = false;
  }

  // The product's picture, or its initial when there is none, it is not https or it fails to
  // load. data-image says which: none | loading | loaded | failed.
  function picture(p) {
    const box = el("div", { className: "thumb" });
    const fallback = (state) => {
      box.dataset.image = state;
      box.replaceChildren(el("span", { className: "initial" }, (p.title || p.product_id || "?").trim().charAt(0).toUpperCase()));
    };
    if (typeof p.image_url === "string" && /^https:\/\//i.test(p.image_url)) {
      const img = el("img", { alt: p.title || p.product_id, referrerPolicy: "no-referrer", decoding: "async" });
      box.dataset.image = "loading";
      img.addEventListener("error", () => fallback("failed"), { once: true });
      img.addEventListener("load", () => { box.dataset.image = "loaded"; }, { once: true });
      img.src = p.image_url;
      box.append(img);
    } else {
      fallback("none");
    }
    return box;
  }

  function productRow(p, currency) {
    const li = el("li", { className: "product" },
      picture(p),
      el("div", { className: "pinfo" },
        el("div", { className: "ptitle" }, p.title || p.product_id),
        el("div", { className: "muted" }, `${p.category || ""} · ${p.quantity} × ${money(p.unit_price, currency)}${p.role && p.role !== "member" ? ` · ${p.role}` : ""}`)));
    li.dataset.productId = p.product_id;
    return li;
  }

  function perfBlock(b, perf) {
    const box = el("div", { className: "perf" });
    if (!perf) {
      box.append(el("span", { className: "muted no-live" }, "No live data yet"));
      return box;
    }
    const cur = b.pricing.currency;
    const denom = perf.orders_since_published;
    const bp = perf.byId.get(b.bundle_id);
    if (!bp) {
      box.append(el("span", { className: "muted no-live" }, "No live data yet for this bundle"));
      return box;
    }
    const rate = denom > 0 ? ` (${pct((100 * bp.orders_whole) / denom)} of ${denom} orders)` : "";
    box.append(
      el("span", { className: "figure whole" }, el("strong", null, bp.orders_whole), ` whole-bundle orders${rate}, ${money(bp.revenue_whole, cur)}`),
      el("span", { className: "figure partial" }, el("strong", null, bp.orders_partial), ` orders with 2+ of its products, ${money(bp.revenue_partial, cur)}`),
      el("span", { className: "muted" }, `${(bp.days || []).length} day(s) with orders since ${new Date(bp.published_at).toLocaleDateString()}`),
      dayBars(bp.days || []),
    );
    return box;
  }

  // The last 14 days with orders as small columns: height = orders with 2+ of the bundle's
  // products that day, the dark part the whole-bundle ones; the tooltip gives the figures.
  function dayBars(days) {
    const shown = days.slice().sort((a, b) => String(a.day).localeCompare(String(b.day))).slice(-14);
    const top = Math.max(1, ...shown.map((d) => d.orders_partial));
    const row = el("div", { className: "days" });
    for (const d of shown) {
      const col = el("span", { className: "day", title: `${d.day}: ${d.orders_whole} whole, ${d.orders_partial} with 2+` });
      const partial = el("span", { className: "part" });
      const whole = el("span", { className: "whole" });
      partial.style.height = `${Math.round((100 * d.orders_partial) / top)}%`;
      whole.style.height = `${Math.round((100 * d.orders_whole) / top)}%`;
      col.append(partial, whole);
      col.dataset.day = d.day;
      row.append(col);
    }
    return row;
  }

  function bundleCard(b, perf) {
    const pr = b.pricing, cur = pr.currency;
    const card = el("article", { className: "bundle-card" },
      el("div", { className: "bhead" },
        el("span", { className: "badge type" }, b.bundle_type),
        el("span", { className: "badge objective" }, words(b.objective)),
        b.cold_start ? el("span", { className: "badge cold" }, "cold start") : null,
        el("span", { className: "muted score" }, `score ${Number(b.score).toFixed(2)}`)),
      el("ul", { className: "products" }, ...b.products.map((p) => productRow(p, cur))),
      el("div", { className: "prices" },
        el("span", { className: "list-price" }, el("s", null, money(pr.list_price, cur))),
        el("strong", { className: "bundle-price" }, money(pr.bundle_price, cur)),
        el("span", { className: "discount" }, `−${pct(pr.discount_pct)}`),
        el("span", { className: "margin" }, `margin ${pct(pr.margin_pct)}`),
        (pr.volume_tiers || []).length
          ? el("span", { className: "muted" }, "tiers: " + pr.volume_tiers.map((t) => `${t.min_quantity}+ −${pct(t.discount_pct)}`).join(", "))
          : null),
      el("p", { className: "rationale" }, b.rationale || ""),
      perfBlock(b, perf));
    card.dataset.bundleId = b.bundle_id;
    return card;
  }

  // The performance answer for this set, or null (404: nothing counted yet; another set's counts).
  async function loadPerformance(set) {
    const res = await auth.fetch(`${base}/bundles/performance`, {}, WHAT);
    const live = $("live-status");
    $("live").hidden = false;
    if (res.status === 404) {
      live.textContent = "No live data yet: the counts start with the orders after this set was published.";
      live.className = "muted no-live";
      return null;
    }
    let body = null;
    try { body = await res.json(); } catch (e) { /* not JSON */ }
    if (!res.ok || !body) {
      live.textContent = `Live performance not loaded (HTTP ${res.status})${body && body.error ? ": " + body.error : ""}.`;
      live.className = "error";
      return null;
    }
    if (body.upload_id !== set.upload_id) {
      live.textContent = `No live data yet for this set (the counts are of upload ${body.upload_id}).`;
      live.className = "muted no-live";
      return null;
    }
    live.textContent = `${body.orders_since_published} orders since publication on ${new Date(body.published_at).toLocaleString()} (as of ${new Date(body.as_of).toLocaleString()}).`;
    live.className = "live-summary";
    return Object.assign({}, body, { byId: new Map((body.bundles || []).map((x) => [x.bundle_id, x])) });
  }

  async function load() {
    clear();
    say("Loading…", "muted");
    let res;
    try {
      res = await auth.fetch(`${base}/bundles`, {}, WHAT);
    } catch (e) {
      say(e instanceof auth.KeyProblem ? (e.status === 403 ? `This key does not cover ${WHAT}.` : "Enter the store's API key to see its bundles.") : String(e), "error");
      return;
    }
    let set = null;
    try { set = await res.json(); } catch (e) { /* not JSON */ }
    if (res.status === 404) {
      say(`No bundle set for ${WHAT} yet: upload a catalog (POST /api/v1/uploads) and reload.`, "muted");
      return;
    }
    if (!res.ok || !set) {
      say(`Bundles not loaded (HTTP ${res.status})${set && set.error ? ": " + set.error : ""}.`, "error");
      return;
    }
    say("", "muted");
    showSummary(set);
    showObjectives(set.metrics || {});
    showGates((set.metrics || {}).policy_gates || {});
    let perf = null;
    try {
      perf = await loadPerformance(set);
    } catch (e) {
      $("live").hidden = false;
      $("live-status").textContent = e instanceof auth.KeyProblem ? e.message : `Live performance not loaded: ${e}`;
      $("live-status").className = "error";
    }
    const bundles = set.bundles || [];
    $("bundle-count").textContent = `(${bundles.length})`;
    $("bundles").replaceChildren(...(bundles.length ? bundles.map((b) => bundleCard(b, perf)) : [el("p", { className: "muted" }, "This set has no bundles.")]));
    $("bundles-section").hidden = false;
    document.body.dataset.loaded = set.upload_id;
  }

  $("store-name").textContent = store;
  document.title = `bundlestream: ${store}`;
  $("reload").addEventListener("click", () => { if (auth.hasKey()) load(); else say("Enter the store's API key to see its bundles.", "error"); });
  auth.onKey(load);
  if (auth.hasKey()) load();
})();
