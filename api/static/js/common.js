// Shared helpers for the hpo pages: JSON fetches, formatting, DOM building, charts, polling.
// Plain browser JavaScript (no build step); everything hangs off one global, HPO.
"use strict";

const HPO = (() => {
  const STATE_COLORS = {
    completed: "#2e9d5b",
    running: "#2f6fde",
    queued: "#8a94a0",
    pruned: "#d9822b",
    failed: "#d64545",
  };
  const PALETTE = ["#2f6fde", "#d9822b", "#2e9d5b", "#a544c9", "#d64545", "#1f9aa8",
    "#8a6d3b", "#e05fa0", "#5a6b7d", "#6aa84f"];

  class ApiError extends Error {
    constructor(status, detail) {
      super(detail);
      this.status = status;
    }
  }

  // Sign-in: when the server's reads need a token (HPO_READ_TOKEN, or the admin token), the
  // page asks for it once and keeps it in this tab's sessionStorage (gone when the tab closes,
  // never in a cookie or a URL); every API fetch sends it as a bearer token.
  const TOKEN_KEY = "hpo.token";

  function storedToken() {
    try {
      return sessionStorage.getItem(TOKEN_KEY);
    } catch (_) {
      return null;  // storage disabled: reads only work where they are open
    }
  }

  function authHeaders(token) {
    const headers = { Accept: "application/json" };
    if (token) headers.Authorization = `Bearer ${token}`;
    return headers;
  }

  async function failure(response) {
    let detail = `${response.status} ${response.statusText}`;
    try {
      detail = (await response.json()).detail || detail;
    } catch (_) { /* not JSON: keep the status line */ }
    return new ApiError(response.status, detail);
  }

  // GET from our API with the stored token; a 4xx/5xx becomes an ApiError carrying its
  // detail, and a 401/403 (no token, a wrong one, one that may not read) shows the sign-in
  // form with the server's message.
  async function fetchApi(path) {
    const response = await fetch(path, { headers: authHeaders(storedToken()) });
    if (!response.ok) {
      const error = await failure(response);
      if (response.status === 401 || response.status === 403) showLogin(error.message);
      throw error;
    }
    return response;
  }

  async function api(path) {
    return (await fetchApi(path)).json();
  }

  // Saves what `path` answers as a file (the best config): a plain link would not carry the
  // token.
  async function download(path, filename) {
    const blob = await (await fetchApi(path)).blob();
    const url = URL.createObjectURL(blob);
    const link = el("a", { href: url, download: filename, class: "hidden" });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  }

  function loginShown() {
    return document.body.classList.contains("login-needed");
  }

  function loginForm() {
    let form = document.getElementById("login");
    if (form) return form;
    form = el("form", { id: "login", class: "card login", autocomplete: "off" },
      el("h1", {}, "Sign in"),
      el("p", { class: "sub" }, "This server's data needs a token: the read token ",
        el("code", {}, "HPO_READ_TOKEN"), " or the admin token. It is kept in this browser ",
        "tab only, until you sign out or close the tab."),
      el("div", { id: "login-error", class: "error hidden", role: "alert" }),
      el("label", { for: "login-token" }, "Token"),
      el("input", { id: "login-token", name: "token", type: "password", required: true,
        autocomplete: "current-password", spellcheck: "false" }),
      el("button", { id: "login-submit", type: "submit", class: "button primary" }, "Sign in"));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const token = document.getElementById("login-token").value.trim();
      if (!token) return;
      // Checked with a small read before it is kept: a wrong token shows the server's
      // message here and is not stored.
      const response = await fetch("/api/v1/studies?limit=1", { headers: authHeaders(token) });
      if (!response.ok) {
        loginMessage((await failure(response)).message);
        return;
      }
      sessionStorage.setItem(TOKEN_KEY, token);
      window.location.reload();
    });
    document.querySelector("main").prepend(form);
    return form;
  }

  function loginMessage(message) {
    const box = document.getElementById("login-error");
    box.textContent = message || "";
    box.classList.toggle("hidden", !message);
  }

  function showLogin(message) {
    const first = !loginShown();
    loginForm();
    // A stored token the server refuses (changed, or not a read token) is dropped.
    if (storedToken()) sessionStorage.removeItem(TOKEN_KEY);
    showError("");
    document.body.classList.add("login-needed");
    loginMessage(message);
    updateLogout();
    if (first) document.getElementById("login-token").focus();
  }

  // A "Sign out" link in the header while a token is kept.
  function updateLogout() {
    const header = document.querySelector("header.top");
    if (!header) return;
    let link = document.getElementById("logout");
    if (!link) {
      link = el("a", { id: "logout", class: "logout", href: "#" }, "Sign out");
      link.addEventListener("click", (event) => {
        event.preventDefault();
        sessionStorage.removeItem(TOKEN_KEY);
        window.location.reload();
      });
      header.append(link);
    }
    link.classList.toggle("hidden", !storedToken());
  }
  document.addEventListener("DOMContentLoaded", updateLogout);

  // el("td", {class: "num"}, "1.5") -> <td class="num">1.5</td>; children may be nodes or text.
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "dataset") Object.assign(node.dataset, value);
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function num(value, digits = 4) {
    if (value === null || value === undefined) return "–";
    if (typeof value !== "number") return String(value);
    if (Number.isInteger(value)) return String(value);
    const abs = Math.abs(value);
    if (abs !== 0 && (abs < 1e-3 || abs >= 1e5)) return value.toExponential(2);
    return String(Number(value.toPrecision(digits)));
  }

  // For text put into HTML strings (ECharts tooltips are HTML): names of parameters,
  // categorical values, worker ids and metrics come from users and workers.
  function esc(text) {
    return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  }

  function duration(seconds) {
    if (seconds === null || seconds === undefined) return "–";
    if (seconds < 60) return `${seconds.toFixed(1)} s`;
    if (seconds < 3600) return `${Math.floor(seconds / 60)} m ${Math.round(seconds % 60)} s`;
    return `${Math.floor(seconds / 3600)} h ${Math.round((seconds % 3600) / 60)} m`;
  }

  function when(iso) {
    if (!iso) return "–";
    const date = new Date(iso);
    return date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
  }

  function badge(state) {
    return el("span", { class: `badge ${state}` }, state);
  }

  function progress(done, total) {
    const share = total > 0 ? Math.min(1, done / total) : 0;
    return el("div", { class: "progress" },
      el("div", { class: "track" }, el("div", { class: "fill", style: `width:${(share * 100).toFixed(1)}%` })),
      el("span", { class: "label" }, `${done} / ${total}`));
  }

  function paramsCell(params) {
    return el("td", { class: "params" },
      Object.entries(params || {}).map(([k, v]) => el("span", {}, el("b", {}, `${k}=`), num(v))));
  }

  function finished(counts) {
    return (counts.completed || 0) + (counts.pruned || 0) + (counts.failed || 0);
  }

  function showError(message) {
    const box = document.getElementById("error");
    if (!box) return;
    if (message && loginShown()) return;  // the sign-in form says what is wrong
    box.textContent = message;
    box.classList.toggle("hidden", !message);
  }

  // Charts: one ECharts instance per element, resized with the window.
  const charts = new Map();
  function chart(id) {
    let instance = charts.get(id);
    if (!instance) {
      instance = echarts.init(document.getElementById(id), null, { renderer: "canvas" });
      charts.set(id, instance);
    }
    return instance;
  }
  function disposeChart(id) {
    const instance = charts.get(id);
    if (instance) instance.dispose();
    charts.delete(id);
  }
  window.addEventListener("resize", () => charts.forEach((c) => c.resize()));

  // Shows a message in place of a chart (no data yet) or the chart itself.
  function chartMessage(id, message) {
    const node = document.getElementById(id);
    const note = node.nextElementSibling && node.nextElementSibling.classList.contains("empty")
      ? node.nextElementSibling : null;
    node.classList.toggle("hidden", Boolean(message));
    if (note) {
      note.textContent = message || "";
      note.classList.toggle("hidden", !message);
    }
    if (!message && charts.has(id)) charts.get(id).resize();
  }

  const baseGrid = { left: 64, right: 24, top: 36, bottom: 48, containLabel: false };
  const axisName = { nameLocation: "middle", nameGap: 30, nameTextStyle: { color: "#64707d" } };

  // Calls `tick` now and then every `ms` after the previous call finished, never two at once;
  // pauses while the tab is hidden. The header's "live" marker turns red while calls fail.
  function poll(tick, ms) {
    const marker = document.getElementById("live");
    async function loop() {
      // Paused while the sign-in form is up: signing in reloads the page.
      if (!document.hidden && !loginShown()) {
        try {
          await tick();
          if (marker) marker.classList.remove("stale");
        } catch (error) {
          if (marker) marker.classList.add("stale");
          showError(error.message);
        }
      }
      setTimeout(loop, ms);
    }
    loop();
  }

  return {
    ApiError, STATE_COLORS, PALETTE, api, download, el, esc, num, duration, when, badge, progress, paramsCell,
    finished, showError, chart, disposeChart, chartMessage, baseGrid, axisName, poll,
  };
})();
