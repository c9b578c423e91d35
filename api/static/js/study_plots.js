// The study page's charts (ECharts, canvas). Each function takes one JSON answer of the
// analytics API (/plots, /curves, /importance) and draws it; the server has already capped
// and downsampled the data, and the notes beside each title say so.

import { axisName, baseGrid, chart, chartMessage, disposeChart, STATE_COLORS } from "./charts.js";
import { el, setNote } from "./dom.js";
import { duration, esc, num } from "./format.js";

const GOOD_TO_BAD = ["#0b3d91", "#2f6fde", "#8cb4f0", "#dfe8f5"];

// Colours for values: dark blue for good, pale for bad, whichever the direction.
function valueVisualMap(dimension, values, direction, extra) {
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  const colors = direction === "maximize" ? [...GOOD_TO_BAD].reverse() : GOOD_TO_BAD;
  return {
    type: "continuous", dimension, min: lo, max: hi === lo ? lo + 1 : hi, show: false,
    inRange: { color: colors }, ...extra,
  };
}

function history(plots) {
  const h = plots.history;
  const completed = plots.states.indexOf("completed");
  const pruned = plots.states.indexOf("pruned");
  const failed = plots.states.indexOf("failed");
  const points = { completed: [], pruned: [] };
  let nFailed = 0;
  // Best so far changes rarely: keep only its steps (and the last point) for the line.
  const best = [];
  for (let i = 0; i < h.number.length; i += 1) {
    const state = h.state[i];
    if (state === completed && h.value[i] !== null) points.completed.push([h.number[i], h.value[i]]);
    else if (state === pruned && h.value[i] !== null) points.pruned.push([h.number[i], h.value[i]]);
    else if (state === failed) nFailed += 1;
    if (h.best[i] !== null && (best.length === 0 || best[best.length - 1][1] !== h.best[i]
        || i === h.number.length - 1)) {
      best.push([h.number[i], h.best[i]]);
    }
  }
  setNote("history-note", `${h.number.length} finished trials` +
    (nFailed ? ` (${nFailed} failed, not drawn)` : ""));
  if (points.completed.length + points.pruned.length === 0) {
    chartMessage("history-chart", "No finished trial with a value yet.");
    return;
  }
  chartMessage("history-chart", null);
  const scatter = (name, data, color) => ({
    name, type: "scatter", data, symbolSize: data.length > 2000 ? 3 : 6,
    itemStyle: { color, opacity: 0.75 }, large: data.length > 2000, largeThreshold: 2000,
  });
  chart("history-chart").setOption({
    animation: false,
    grid: { ...baseGrid, top: 40 },
    legend: { top: 0, data: ["completed", "pruned", "best so far"] },
    tooltip: { confine: true, trigger: "item", formatter: (p) => `trial #${p.data[0]}<br>${esc(p.seriesName)}: ${num(p.data[1], 6)}` },
    xAxis: { type: "value", name: "trial", ...axisName, min: 0 },
    yAxis: { type: "value", name: plots.metric, ...axisName, nameGap: 48, scale: true },
    dataZoom: [{ type: "inside", xAxisIndex: 0 }],
    series: [
      scatter("completed", points.completed, STATE_COLORS.completed),
      scatter("pruned", points.pruned, STATE_COLORS.pruned),
      { name: "best so far", type: "line", step: "end", data: best, showSymbol: false,
        lineStyle: { width: 2, color: "#18212d" }, itemStyle: { color: "#18212d" }, z: 3 },
    ],
  }, true);
}

function sampleNote(sample) {
  const shown = sample.number.length;
  return shown < sample.n_total
    ? `${shown} of ${sample.n_total} completed trials: the best ${Math.floor(shown / 4)} and an even spread of the rest`
    : `${shown} completed trials`;
}

function axisValue(axis, value) {
  if (value === null || value === undefined) return null;
  return axis.type === "categorical" ? String(value) : value;
}

function parallel(plots) {
  const { sample, params } = plots;
  setNote("parallel-note", sampleNote(sample));
  if (sample.number.length === 0 || params.length === 0) {
    chartMessage("parallel-chart", "No completed trial yet.");
    return;
  }
  chartMessage("parallel-chart", null);
  const axes = params.map((p, i) => {
    const axis = { dim: i, name: p.name, nameTextStyle: { color: "#38434f" } };
    if (p.type === "categorical") return { ...axis, type: "category", data: p.choices };
    return { ...axis, type: p.log ? "log" : "value", min: p.low, max: p.high, scale: true };
  });
  axes.push({ dim: params.length, name: plots.metric, type: "value", scale: true,
    nameTextStyle: { color: "#18212d", fontWeight: "bold" } });
  const rows = [];
  for (let i = 0; i < sample.number.length; i += 1) {
    const row = params.map((p) => axisValue(p, (sample.params[p.name] || [])[i]));
    if (row.some((v) => v === null)) continue;
    row.push(sample.value[i]);
    rows.push(row);
  }
  chart("parallel-chart").setOption({
    animation: false,
    parallel: { left: 48, right: 130, top: 48, bottom: 32 },
    parallelAxis: axes,
    visualMap: valueVisualMap(params.length, sample.value, plots.direction, {
      show: true, right: 8, top: "middle", itemHeight: 160, text: ["", ""],
      calculable: true, precision: 4,
    }),
    series: [{
      type: "parallel", data: rows, progressive: 500, smooth: false,
      lineStyle: { width: 1, opacity: rows.length > 500 ? 0.25 : 0.5 },
    }],
  }, true);
}

function slices(plots) {
  const { sample, params } = plots;
  const holder = document.getElementById("slices");
  setNote("slice-note", `${sampleNote(sample)}; colour = trial number (darker is later)`);
  const empty = sample.number.length === 0;
  document.getElementById("slices-empty").classList.toggle("hidden", !empty);
  holder.classList.toggle("hidden", empty);
  if (empty) return;
  const wanted = params.map((p) => `slice-${p.name}`).join(",");
  if (holder.dataset.charts !== wanted) {
    (holder.dataset.charts || "").split(",").filter(Boolean).forEach(disposeChart);
    holder.replaceChildren(...params.map((p) =>
      el("div", { class: "chart small", id: `slice-${p.name}`, "data-param": p.name })));
    holder.dataset.charts = wanted;
  }
  const lastNumber = Math.max(...sample.number);
  for (const p of params) {
    const values = sample.params[p.name] || [];
    const data = [];
    for (let i = 0; i < sample.number.length; i += 1) {
      const x = axisValue(p, values[i]);
      if (x !== null) data.push([x, sample.value[i], sample.number[i]]);
    }
    const xAxis = p.type === "categorical"
      ? { type: "category", data: p.choices }
      : { type: p.log ? "log" : "value", min: p.low, max: p.high, scale: true };
    chart(`slice-${p.name}`).setOption({
      animation: false,
      title: { text: p.name, left: "center", top: 0, textStyle: { fontSize: 13, fontWeight: 600 } },
      grid: { left: 56, right: 16, top: 32, bottom: 28 },
      tooltip: { confine: true, trigger: "item", formatter: (d) => `trial #${d.data[2]}<br>${esc(p.name)}: ${esc(num(d.data[0]))}<br>${esc(plots.metric)}: ${num(d.data[1], 6)}` },
      xAxis: { ...xAxis, axisLabel: { hideOverlap: true } },
      yAxis: { type: "value", scale: true },
      visualMap: { type: "continuous", dimension: 2, min: 0, max: Math.max(1, lastNumber), show: false,
        inRange: { color: ["#b8cdef", "#0b3d91"] } },
      series: [{ type: "scatter", data, symbolSize: data.length > 1000 ? 3 : 5,
        itemStyle: { opacity: 0.8 } }],
    }, true);
  }
}

function timeline(plots) {
  const t = plots.timeline;
  setNote("timeline-note", t.number.length < t.n_total
    ? `the latest ${t.number.length} of ${t.n_total} started trials` : `${t.number.length} trials`);
  if (t.number.length === 0) {
    chartMessage("timeline-chart", "No trial has started yet.");
    return;
  }
  chartMessage("timeline-chart", null);
  const now = Date.now();
  const data = t.number.map((n, i) => {
    const state = plots.states[t.state[i]];
    return {
      value: [t.worker[i], t.start[i], t.end[i] === null ? now : t.end[i], n],
      itemStyle: { color: STATE_COLORS[state] || "#8a94a0" },
      state,
    };
  });
  const renderItem = (params, api) => {
    const lane = api.value(0);
    const from = api.coord([api.value(1), lane]);
    const to = api.coord([api.value(2), lane]);
    const height = api.size([0, 1])[1] * 0.6;
    const shape = echarts.graphic.clipRectByRect(
      { x: from[0], y: from[1] - height / 2, width: Math.max(1, to[0] - from[0]), height },
      { x: params.coordSys.x, y: params.coordSys.y, width: params.coordSys.width, height: params.coordSys.height });
    return shape && { type: "rect", shape, style: api.style() };
  };
  const laneHeight = Math.max(160, Math.min(520, 48 + t.workers.length * 28));
  document.getElementById("timeline-chart").style.height = `${laneHeight + 60}px`;
  const instance = chart("timeline-chart");
  instance.resize();
  instance.setOption({
    animation: false,
    grid: { left: 120, right: 24, top: 16, bottom: 56 },
    tooltip: {
      confine: true,
      trigger: "item",
      formatter: (p) => `trial #${p.value[3]} (${p.data.state})<br>${esc(t.workers[p.value[0]])}<br>` +
        `${duration((p.value[2] - p.value[1]) / 1000)}`,
    },
    xAxis: { type: "time", name: "time", ...axisName },
    yAxis: { type: "category", data: t.workers, inverse: true, axisLabel: { width: 110, overflow: "truncate" } },
    dataZoom: [{ type: "inside", xAxisIndex: 0, filterMode: "weakFilter" }],
    series: [{ type: "custom", renderItem, encode: { x: [1, 2], y: 0 }, data }],
  }, true);
}

export function importance(view) {
  setNote("importance-note", `${view.method}` + (view.note ? `; ${view.note}` : ""));
  if (view.importances.length === 0) {
    chartMessage("importance-chart", view.note ? `Not yet: ${view.note}.` : "No importance yet.");
    return;
  }
  chartMessage("importance-chart", null);
  const rows = [...view.importances].reverse(); // the largest on top
  chart("importance-chart").setOption({
    animation: false,
    grid: { left: 120, right: 56, top: 16, bottom: 32 },
    tooltip: { confine: true, trigger: "item", formatter: (p) => `${esc(p.name)}: ${num(p.value, 3)}` },
    xAxis: { type: "value", min: 0, name: "importance", ...axisName, nameGap: 24 },
    yAxis: { type: "category", data: rows.map((r) => r.param), axisLabel: { width: 110, overflow: "truncate" } },
    series: [{ type: "bar", data: rows.map((r) => r.importance), barMaxWidth: 22,
      itemStyle: { color: "#2f6fde" },
      label: { show: true, position: "right", formatter: (p) => num(p.value, 3) } }],
  }, true);
}

export function curves(view) {
  const shown = view.curves.length;
  setNote("curves-note", shown < view.n_total
    ? `${shown} of ${view.n_total} trials: the best completed and the latest` : `${shown} trials`);
  if (shown === 0) {
    chartMessage("curves-chart", "No trial has reported an intermediate value yet.");
    return;
  }
  chartMessage("curves-chart", null);
  const order = ["completed", "pruned", "running", "failed", "queued"];
  const series = view.curves.map((c) => ({
    name: c.state, type: "line", showSymbol: false, symbolSize: 4,
    data: c.step.map((s, i) => [s, c.value[i], c.number]),
    lineStyle: { width: c.state === "pruned" ? 1 : 1.4, color: STATE_COLORS[c.state], opacity: 0.7,
      type: c.state === "pruned" ? "dashed" : "solid" },
    itemStyle: { color: STATE_COLORS[c.state] },
    emphasis: { focus: "series", lineStyle: { width: 3 } },
    endLabel: { show: false },
  }));
  chart("curves-chart").setOption({
    animation: false,
    grid: { ...baseGrid, top: 40 },
    legend: { top: 0, data: order.filter((s) => view.curves.some((c) => c.state === s)) },
    tooltip: { confine: true, trigger: "item", formatter: (p) => `trial #${p.data[2]} (${esc(p.seriesName)})<br>step ${p.data[0]}: ${num(p.data[1], 6)}` },
    xAxis: { type: "value", name: "step", ...axisName, minInterval: 1 },
    yAxis: { type: "value", scale: true },
    series,
  }, true);
}

export function renderAll(plots) {
  history(plots);
  parallel(plots);
  slices(plots);
  timeline(plots);
}
