// The studies list and the comparisons list, refreshed every few seconds.

import { getJson, paths } from "./api.js";
import { el, showError } from "./dom.js";
import { num, when } from "./format.js";
import "./header.js";
import { poll } from "./poll.js";
import { badge, finished, progress } from "./stats.js";

function studyRow(study) {
  const best = study.best ? study.best.value : null;
  return el("tr", { dataset: { studyId: study.id } },
    el("td", { class: "num" }, study.id),
    el("td", {}, el("a", { href: `/studies/${study.id}` }, study.name)),
    el("td", {}, badge(study.state)),
    el("td", {}, study.sampler),
    el("td", {}, study.pruner),
    el("td", {}, progress(finished(study.counts), study.n_trials)),
    el("td", { class: "num" }, study.counts.running || 0),
    el("td", { class: "num" }, num(best)),
    el("td", {}, `${study.spec.task.metric || "value"} (${study.direction})`),
    el("td", {}, when(study.created_at)));
}

function comparisonRow(comparison) {
  return el("tr", { dataset: { comparisonId: comparison.id } },
    el("td", { class: "num" }, comparison.id),
    el("td", {}, el("a", { href: `/comparisons/${comparison.id}` }, comparison.name)),
    el("td", {}, badge(comparison.state)),
    el("td", {}, (comparison.samplers || []).join(", ")),
    el("td", { class: "num" }, `${comparison.n_trials} × ${comparison.repeats}`),
    el("td", {}, progress(comparison.n_finished || 0, comparison.n_total || 0)),
    el("td", {}, when(comparison.created_at)));
}

function fill(tableId, rows) {
  document.querySelector(`#${tableId} tbody`).replaceChildren(...rows);
  document.getElementById(`${tableId}-empty`).classList.toggle("hidden", rows.length > 0);
}

async function refresh() {
  const [studies, comparisons] = await Promise.all([
    getJson(paths.studies({ standalone: true, limit: 1000 })),
    getJson(paths.comparisons({ limit: 1000 })),
  ]);
  // Studies that belong to a comparison are listed on its page, not here (the server
  // leaves them out: standalone=true).
  fill("studies", studies.map(studyRow));
  fill("comparisons", comparisons.map(comparisonRow));
  showError("");
}

poll(refresh, 3000);
