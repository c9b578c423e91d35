// The small pieces that show states, counts and progress: stat cards, state badges, progress
// bars, a trial's parameters.

import { el } from "./dom.js";
import { num } from "./format.js";

// Trials that are done, one way or another.
export function finished(counts) {
  return (counts.completed || 0) + (counts.pruned || 0) + (counts.failed || 0);
}

// One card of a page's stats row: a key above its value.
export function stat(key, value) {
  return el("div", { class: "stat" }, el("div", { class: "k" }, key), el("div", { class: "v" }, value));
}

// Fills the #stats row from [key, value] pairs.
export function showStats(pairs) {
  document.getElementById("stats").replaceChildren(...pairs.map(([key, value]) => stat(key, value)));
}

export function badge(state) {
  return el("span", { class: `badge ${state}` }, state);
}

export function progress(done, total) {
  const share = total > 0 ? Math.min(1, done / total) : 0;
  return el("div", { class: "progress" },
    el("div", { class: "track" }, el("div", { class: "fill", style: `width:${(share * 100).toFixed(1)}%` })),
    el("span", { class: "label" }, `${done} / ${total}`));
}

export function paramsCell(params) {
  return el("td", { class: "params" },
    Object.entries(params || {}).map(([k, v]) => el("span", {}, el("b", {}, `${k}=`), num(v))));
}
