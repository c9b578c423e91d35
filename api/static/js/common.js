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

  // GET a JSON document from our API; a 4xx/5xx becomes an ApiError carrying its detail.
  async function api(path) {
    const response = await fetch(path, { headers: { Accept: "application/json" } });
    if (!response.ok) {
      let detail = `${response.status} ${response.statusText}`;
      try {
        detail = (await response.json()).detail || detail;
      } catch (_) { /* not JSON: keep the status line */ }
      throw new ApiError(response.status, detail);
    }
    return response.json();
  }

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
      if (!document.hidden) {
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
    ApiError, STATE_COLORS, PALETTE, api, el, esc, num, duration, when, badge, progress, paramsCell,
    finished, showError, chart, disposeChart, chartMessage, baseGrid, axisName, poll,
  };
})();
