// Several objectives on the study page: the Pareto plot (two objectives, chosen among the
// study's; the front drawn as a staircase, infeasible trials marked with a cross), the
// hypervolume over trials, and the trial panel a click on a point opens.
// Data: /trials?state=completed (up to 1000, the page's cap), /pareto and /hypervolume.

import { getJson, paths } from "./api.js";
import { axisName, baseGrid, chart, chartMessage, STATE_COLORS } from "./charts.js";
import { el, setNote } from "./dom.js";
import { num } from "./format.js";

const INFEASIBLE = "#d64545";
let shown = { x: 0, y: 1 };
let last = null;  // { study, trials, front }: redrawn when the axes change

// The study's objectives as [{metric, direction}], from its spec (the task's metric alone
// when it has no `objectives`).
export function objectivesOf(study) {
  const spec = study.spec || {};
  if (Array.isArray(spec.objectives) && spec.objectives.length) return spec.objectives;
  const task = spec.task || {};
  return [{ metric: task.metric || "value", direction: study.direction }];
}

function valuesOf(trial) {
  return Array.isArray(trial.values) ? trial.values : [trial.value];
}

function axisSelect(id, objectives, selected) {
  const select = document.getElementById(id);
  select.replaceChildren(...objectives.map((o, i) =>
    el("option", { value: i, selected: i === selected }, `${o.metric} (${o.direction})`)));
}

function draw() {
  const { study, trials, front } = last;
  const objectives = objectivesOf(study);
  const { x, y } = shown;
  const frontIds = new Set(front.map((t) => t.id));
  const point = (t) => {
    const v = valuesOf(t);
    return { value: [v[x], v[y]], trialId: t.id, number: t.number };
  };
  const feasible = trials.filter((t) => t.feasible !== false && !frontIds.has(t.id)).map(point);
  const infeasible = trials.filter((t) => t.feasible === false).map(point);
  // The front on these two axes: the trials no other (feasible) one beats on both.
  const better = (a, b, i) => (objectives[i].direction === "maximize" ? a > b : a < b);
  const candidates = trials.filter((t) => t.feasible !== false);
  const front2 = candidates.filter((t) => !candidates.some((o) => {
    const a = valuesOf(o); const b = valuesOf(t);
    return (better(a[x], b[x], x) || a[x] === b[x]) && (better(a[y], b[y], y) || a[y] === b[y])
      && (a[x] !== b[x] || a[y] !== b[y]);
  })).map(point).sort((a, b) => a.value[0] - b.value[0]);
  setNote("pareto-note", `${trials.length} completed trials, ${front.length} on the front` +
    (infeasible.length ? `, ${infeasible.length} infeasible (×)` : ""));
  if (trials.length === 0) {
    chartMessage("pareto-chart", "No completed trial yet.");
    return;
  }
  chartMessage("pareto-chart", null);
  const c = chart("pareto-chart");
  c.setOption({
    animation: false,
    grid: { ...baseGrid, top: 40, left: 80 },
    legend: { top: 0, data: ["trials", "Pareto front", "infeasible"] },
    tooltip: { confine: true, trigger: "item",
      formatter: (p) => `trial #${p.data.number}<br>${objectives[x].metric}: ${num(p.data.value[0], 6)}` +
        `<br>${objectives[y].metric}: ${num(p.data.value[1], 6)}` },
    xAxis: { type: "value", name: objectives[x].metric, ...axisName, scale: true },
    yAxis: { type: "value", name: objectives[y].metric, ...axisName, nameGap: 56, scale: true },
    series: [
      { name: "trials", type: "scatter", data: feasible, symbolSize: 7,
        itemStyle: { color: STATE_COLORS.completed, opacity: 0.6 } },
      { name: "Pareto front", type: "line", step: "end", data: front2, symbolSize: 10,
        lineStyle: { color: "#18212d", width: 2 }, itemStyle: { color: "#18212d" }, z: 3 },
      { name: "infeasible", type: "scatter", data: infeasible, symbol: "path://M0,0L10,10M10,0L0,10",
        symbolSize: 9, itemStyle: { color: INFEASIBLE, borderColor: INFEASIBLE, borderWidth: 2 } },
    ],
  }, true);
  c.off("click");
  c.on("click", (p) => {
    if (p.data && p.data.trialId !== undefined) openTrial(trials.find((t) => t.id === p.data.trialId));
  });
}

// The trial panel: number, state, feasibility, objective values, params and metrics.
export function openTrial(trial) {
  if (!trial || !last) return;
  const objectives = objectivesOf(last.study);
  const values = valuesOf(trial);
  const rows = [
    ["state", trial.state],
    ["feasible", trial.feasible === false ? "no: a constraint is broken" : "yes"],
    ...objectives.map((o, i) => [o.metric, num(values[i], 6)]),
    ...Object.entries(trial.params).map(([k, v]) => [k, String(v)]),
    ...Object.entries(trial.metrics || {})
      .filter(([, v]) => typeof v === "number")
      .map(([k, v]) => [`metric ${k}`, num(v, 6)]),
  ];
  const panel = document.getElementById("trial-detail");
  panel.dataset.trialNumber = trial.number;
  document.getElementById("trial-detail-title").textContent = `Trial #${trial.number}`;
  document.querySelector("#trial-detail tbody").replaceChildren(...rows.map(([k, v]) =>
    el("tr", {}, el("th", {}, k), el("td", {}, v))));
  panel.classList.remove("hidden");
  history.replaceState(null, "", `#trial-${trial.number}`);
  panel.scrollIntoView({ block: "nearest" });
}

function hypervolumeChart(hv) {
  setNote("hypervolume-note", hv.reference
    ? `reference point (in losses) ${hv.reference.map((r) => num(r, 4)).join(", ")}` : "");
  if (!hv.hypervolume.length) {
    chartMessage("hypervolume-chart", "No completed trial yet.");
    return;
  }
  chartMessage("hypervolume-chart", null);
  const data = hv.hypervolume.map((v, i) => [i + 1, v]);
  chart("hypervolume-chart").setOption({
    animation: false,
    grid: { ...baseGrid, left: 80 },
    tooltip: { trigger: "axis" },
    xAxis: { type: "value", name: "completed trials", ...axisName, min: 0 },
    yAxis: { type: "value", name: "hypervolume", ...axisName, nameGap: 56, scale: true },
    series: [{ name: "hypervolume", type: "line", step: "end", data, showSymbol: false,
      lineStyle: { width: 2, color: "#18212d" } }],
  }, true);
}

// Draws the multi-objective cards, or hides them for a single-objective study.
export async function render(study) {
  const objectives = objectivesOf(study);
  const cards = document.querySelectorAll(".multi-objective");
  cards.forEach((card) => card.classList.toggle("hidden", objectives.length < 2));
  if (objectives.length < 2) return;
  const [page, front, hv] = await Promise.all([
    getJson(paths.trials(study.id, { state: "completed", limit: 1000 })),
    getJson(paths.pareto(study.id)),
    getJson(paths.hypervolume(study.id)),
  ]);
  if (!last) {
    axisSelect("pareto-x", objectives, shown.x);
    axisSelect("pareto-y", objectives, shown.y);
  }
  last = { study, trials: page.items, front };
  draw();
  hypervolumeChart(hv);
}

for (const [id, axis] of [["pareto-x", "x"], ["pareto-y", "y"]]) {
  document.getElementById(id).addEventListener("change", (event) => {
    shown = { ...shown, [axis]: Number(event.target.value) };
    if (last) draw();
  });
}
