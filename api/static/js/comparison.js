// The comparison page: ranking, best-so-far curves per sampler with interquartile bands (by
// trial and by training time), and the comparison's studies. Polls while it runs.

import { getJson, paths } from "./api.js";
import { axisName, baseGrid, chart, chartMessage, PALETTE } from "./charts.js";
import { el, showError } from "./dom.js";
import { esc, num } from "./format.js";
import "./header.js";
import { poll } from "./poll.js";
import { badge, progress, showStats } from "./stats.js";
const comparisonId = Number(window.location.pathname.split("/").filter(Boolean).pop());
let fingerprint = null;

function colorOf(view, sampler) {
  return PALETTE[view.samplers.indexOf(sampler) % PALETTE.length];
}

function renderHeader(view) {
  document.title = `hpo · ${view.name}`;
  document.getElementById("title").replaceChildren(`${view.name} `, badge(view.state));
  const task = view.task || {};
  const parts = [`comparison ${view.id}`, `${task.model || "?"} on ${task.dataset || "?"}`,
    `${view.objective} (${view.direction})`, `${view.n_trials} trials × ${view.repeats} seeds per sampler`];
  document.getElementById("subtitle").replaceChildren(...parts.map((p) => el("span", {}, p)));
  const leader = view.results.find((r) => r.rank === 1 && r.median_best !== null);
  showStats([
    ["finished", `${view.n_finished} / ${view.n_total}`],
    ["samplers", view.samplers.length],
    ["seeds", view.repeats],
    ["leader", leader ? leader.sampler : "–"],
    ["leader's median best", leader ? num(leader.median_best) : "–"],
  ]);
}

function renderRanking(view) {
  const rows = [...view.results].sort((a, b) => a.rank - b.rank);
  document.querySelector("#ranking tbody").replaceChildren(...rows.map((r) =>
    el("tr", { dataset: { sampler: r.sampler } },
      el("td", { class: "num" }, r.rank),
      el("td", {}, el("span", { style: `color:${colorOf(view, r.sampler)}` }, "● "), r.sampler),
      el("td", { class: "num" }, num(r.median_best)),
      el("td", { class: "num" }, r.q25_best === null ? "–" : `${num(r.q25_best)} – ${num(r.q75_best)}`),
      el("td", { class: "params" }, r.best_values.map((v) => num(v)).join(", ")),
      el("td", { class: "num" }, r.n_finished),
      el("td", { class: "num" }, r.test_metric === null || r.test_metric === undefined ? "–"
        : `${num(r.test_metric)}${r.test_metric_sd === null || r.test_metric_sd === undefined ? "" : ` ± ${num(r.test_metric_sd, 2)}`}`))));
  // Whether the ranking is a verdict or noise (hpo.service.separability).
  const verdict = document.getElementById("verdict");
  verdict.textContent = view.verdict ? `ranking: ${view.verdict}` : "";
  verdict.classList.toggle("hidden", !view.verdict);
}

function renderStudies(view) {
  document.querySelector("#studies tbody").replaceChildren(...view.studies.map((s) =>
    el("tr", { dataset: { studyId: s.id } },
      el("td", { class: "num" }, el("a", { href: `/studies/${s.id}` }, s.id)),
      el("td", {}, s.sampler),
      el("td", { class: "num" }, s.seed),
      el("td", {}, badge(s.state)),
      el("td", {}, progress(s.n_finished, view.n_trials)),
      el("td", { class: "num" }, num(s.best_value)))));
}

// [x, y] points of a step function that holds each value until the next x, as the median
// lines are drawn (step: "end").
function steps(xs, ys) {
  const out = [];
  xs.forEach((x, i) => {
    if (i > 0) out.push([x, ys[i - 1]]);
    out.push([x, ys[i]]);
  });
  return out;
}

// A band is one polygon (q25 forward, q75 back, both stepped like the medians) drawn by a
// custom series; its data are the real [x, q25, q75] points so the axes' extents include
// the whole band.
function bandSeries(name, band, color) {
  const points = band.x.map((x, i) => [x, band.q25[i], band.q75[i]])
    .filter((p) => p[1] !== null && p[2] !== null);
  const xs = points.map((p) => p[0]);
  return {
    name, type: "custom", data: points, encode: { x: 0, y: [1, 2] }, silent: true, z: 1,
    itemStyle: { color },
    renderItem: (params, api) => {
      if (params.dataIndex !== 0 || points.length < 2) return null;
      const lower = steps(xs, points.map((p) => p[1])).map((p) => api.coord(p));
      const upper = steps(xs, points.map((p) => p[2])).map((p) => api.coord(p)).reverse();
      return { type: "polygon", shape: { points: lower.concat(upper) },
        style: { fill: color, opacity: 0.16 } };
    },
  };
}

function renderCurves(view, key, id, xName) {
  const samplers = view.samplers.filter((s) => view.curves[s] && view.curves[s][key].x.length > 0);
  if (samplers.length === 0) {
    chartMessage(id, "No finished trial yet.");
    return;
  }
  chartMessage(id, null);
  const series = [];
  for (const sampler of samplers) {
    const band = view.curves[sampler][key];
    const color = colorOf(view, sampler);
    series.push(bandSeries(sampler, band, color));
    series.push({
      name: sampler, type: "line", step: "end", showSymbol: false, z: 2,
      data: band.x.map((x, i) => [x, band.median[i]]).filter((p) => p[1] !== null),
      lineStyle: { width: 2, color }, itemStyle: { color },
    });
  }
  chart(id).setOption({
    animation: false,
    grid: { ...baseGrid, top: 44 },
    legend: { top: 0, data: samplers },
    tooltip: {
      confine: true,
      trigger: "axis",
      // The medians only: a band's [x, q25, q75] points would repeat every sampler.
      formatter: (items) => [`${xName} ${num(items[0].axisValue)}`, ...items
        .filter((p) => p.seriesType === "line")
        .map((p) => `${p.marker}${esc(p.seriesName)}: ${num(p.data[1])}`)].join("<br>"),
    },
    xAxis: { type: "value", name: xName, ...axisName, min: key === "by_trial" ? 1 : 0 },
    yAxis: { type: "value", name: view.objective, ...axisName, nameGap: 48, scale: true },
    series,
  }, true);
}

async function tick() {
  const view = await getJson(paths.comparison(comparisonId));
  const next = JSON.stringify([view.state, view.n_finished, view.results.map((r) => [r.sampler, r.median_best, r.test_metric]), view.verdict]);
  if (next === fingerprint) return;
  fingerprint = next;
  renderHeader(view);
  renderRanking(view);
  renderStudies(view);
  renderCurves(view, "by_trial", "by-trial-chart", "trial");
  renderCurves(view, "by_time", "by-time-chart", "training seconds");
  performance.mark("hpo-ready");
  document.body.dataset.ready = "true";
  showError("");
}

if (!Number.isInteger(comparisonId)) {
  showError("This page needs a comparison id: /comparisons/<id>.");
} else {
  poll(tick, 2000);
}
