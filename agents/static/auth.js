// API keys for the demo and config pages.
//
// The key lives in sessionStorage: it survives a reload but not the tab, is never put in a URL
// (the key field has no name, so even a form submitted without this script sends nothing), never
// in a cookie, and is sent only as "Authorization: Bearer <key>" on the page's own fetches.
// 401 -> the key is forgotten and asked for again; 403 -> the key is kept, the page says what it
// does not cover. Server reasons are shown as text, never parsed as HTML.
(function () {
  "use strict";
  const STORAGE = "bundlestream.apiKey";
  const $ = (id) => document.getElementById(id);
  const listeners = [];
  let memory = "";  // when sessionStorage is unavailable (some private modes): this page only

  class KeyProblem extends Error {
    constructor(status, message) { super(message); this.status = status; }
  }

  function read() {
    try { return sessionStorage.getItem(STORAGE) || ""; } catch (e) { return ""; }
  }

  function say(text, kind) {
    const status = $("key-status");
    status.textContent = text;
    status.className = kind || "muted";
    status.dataset.state = kind === "error" ? "problem" : "ok";
  }

  function showState() {
    const has = !!read();
    $("api-key").placeholder = has ? "key set for this tab" : "paste your API key";
    $("key-forget").hidden = !has;
    document.body.dataset.key = has ? "set" : "missing";
  }

  function ask(text) {
    say(text, "error");
    showState();
    $("api-key").focus();
  }

  function store(key) {
    try { sessionStorage.setItem(STORAGE, key); } catch (e) { /* private mode: kept for this page only */ }
    memory = key;
    showState();
  }

  function forget() {
    try { sessionStorage.removeItem(STORAGE); } catch (e) { /* nothing stored */ }
    memory = "";
    showState();
  }

  const current = () => read() || memory;

  async function reasonOf(res) {
    try {
      const body = await res.clone().json();
      if (body && typeof body.error === "string") return body.error;
    } catch (e) { /* not JSON */ }
    return `HTTP ${res.status}`;
  }

  // fetch() with the key. `what` names what the call is about ("store X", "the config") for the
  // 403 message. Throws KeyProblem on no key, 401 and 403, after telling the user.
  async function apiFetch(path, options, what) {
    const key = current();
    if (!key) {
      ask("Enter an API key to use this page.");
      throw new KeyProblem(0, "no API key");
    }
    const headers = new Headers((options && options.headers) || {});
    headers.set("Authorization", "Bearer " + key);
    const res = await fetch(path, Object.assign({}, options || {}, { headers, credentials: "same-origin" }));
    if (res.status === 401) {
      const reason = await reasonOf(res);
      forget();
      ask(`Key rejected (${reason}). Enter a valid key.`);
      throw new KeyProblem(401, "key rejected");
    }
    if (res.status === 403) {
      const reason = await reasonOf(res);
      say(`This key does not cover ${what || "this route"}: ${reason}`, "error");
      throw new KeyProblem(403, `key does not cover ${what || "this route"}`);
    }
    return res;
  }

  $("key-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const field = $("api-key");
    const key = field.value.trim();
    field.value = "";  // the key does not stay in the page's DOM
    if (!key) { ask("Enter an API key to use this page."); return; }
    store(key);
    say("Key set for this tab; every request sends it.", "ok");
    for (const fn of listeners) fn();
  });
  $("key-forget").addEventListener("click", () => {
    forget();
    ask("Key forgotten. Enter an API key to use this page.");
  });

  showState();
  if (!current()) say("Enter an API key to use this page.", "muted");

  window.bundlestreamAuth = {
    fetch: apiFetch,
    hasKey: () => !!current(),
    onKey: (fn) => listeners.push(fn),
    KeyProblem,
  };
})();
