// The study page: header, live leaderboard, paged trial table and the plots.
//
// Live updates by polling: GET /api/v1/studies/{id} every second is cheap (counts by state and
// the best trial, one indexed query); only when its fingerprint changes are the leaderboard,
// the table page and (at most every few seconds) the plots fetched again.

import { download, getJson, getText, paths } from "./api.js";
import { el, showError } from "./dom.js";
import { duration, num } from "./format.js";
import "./header.js";
import { poll } from "./poll.js";
import { badge, finished, paramsCell, showStats } from "./stats.js";
import * as pareto from "./pareto.js";
import * as studyPlots from "./study_plots.js";
const studyId = Number(window.location.pathname.split("/").filter(Boolean).pop());
const PAGE = 25;
const POLL_MS = 1000;
const PLOTS_EVERY_MS = 4000;
const LOG_LINES = 500; // the last lines of a trial's log shown under its row

const page = { offset: 0, state: "" };
let fingerprint = null;
let leaderIds = null;
let plotsAt = 0;
let plotsTimer = null;
let completedAtImportance = -1;
let openTrial = null; // the trial whose log is shown under its row (its id), if any

function renderHeader(study) {
  document.title = `hpo · ${study.name}`;
  document.getElementById("title").replaceChildren(`${study.name} `, badge(study.state));
  const task = study.spec.task || {};
  // A command task runs the user's own program: show its command, not a model and dataset.
  const what = task.kind === "command"
    ? `command: ${(task.command || []).join(" ")}`
    : `${task.model || "?"} on ${task.dataset || "?"}`;
  const parts = [`study ${study.id}`, what,
    `${study.sampler} sampler`, `${study.pruner} pruner`, `pool ${study.pool || "default"}`,
    `${task.metric || "value"} (${study.direction})`];
  if (study.comparison_id !== null && study.comparison_id !== undefined) {
    parts.push(el("a", { href: `/comparisons/${study.comparison_id}` },
      `comparison ${study.comparison_id}`));
  }
  document.getElementById("subtitle").replaceChildren(...parts.map((p) => el("span", {}, p)));
  // Why a study stopped (a user, or a run of config errors) and why trials fail, in words.
  const reason = document.getElementById("paused-reason");
  reason.textContent = study.state === "paused" && study.paused_reason ? study.paused_reason : "";
  reason.classList.toggle("hidden", !reason.textContent);
  // A running study nobody can train: no live worker serves its pool.
  const waiting = document.getElementById("waiting-for");
  waiting.textContent = study.waiting_for
    ? `waiting: ${study.waiting_for} (start one: hpo worker --pool ${study.pool})` : "";
  waiting.classList.toggle("hidden", !study.waiting_for);
  const top = (study.failures || [])[0];
  const failure = document.getElementById("top-failure");
  failure.textContent = top ? `most common failure: ${top.count} × ${top.failure_class}` +
    (top.message ? `: ${top.message}` : "") : "";
  failure.classList.toggle("hidden", !top);
  const counts = study.counts;
  showStats([
    ["best", study.best ? `${num(study.best.value)}` : "–"],
    ["best trial", study.best ? `#${study.best.number}` : "–"],
    ["finished", `${finished(counts)} / ${study.n_trials}`],
    ["running", counts.running || 0],
    ["queued", counts.queued || 0],
    ["pruned", counts.pruned || 0],
    ["failed", counts.failed || 0],
  ]);
  const link = document.getElementById("download-best");
  link.classList.toggle("hidden", !study.best);
  link.setAttribute("href", paths.bestConfigYaml(study.id));
  link.setAttribute("download", `study-${study.id}-best.yaml`);
}

// What the budgets used and have left (GET /studies/{id} `budget`), redrawn on every poll:
// the training time grows while trials run, without the counts changing.
function renderBudget(study) {
  const use = study.budget;
  const line = document.getElementById("budget-use");
  if (!use) {
    line.classList.add("hidden");
    return;
  }
  const parts = [`${use.trials_used} of ${use.n_trials} trials used, ${use.trials_left} left`];
  parts.push(use.max_seconds === null
    ? `${duration(use.seconds_used)} training used (no time budget)`
    : `${duration(use.seconds_used)} of ${duration(use.max_seconds)} training used, ` +
      `${duration(use.seconds_left)} left`);
  if (use.max_trial_seconds !== null) parts.push(`at most ${duration(use.max_trial_seconds)} a trial`);
  if (use.target !== null) parts.push(`target ${num(use.target)}`);
  if (use.stop_reason) parts.push(`stopped: ${use.stop_reason}`);
  line.textContent = `budget: ${parts.join("; ")}`;
  line.classList.remove("hidden");
}

async function renderLeaderboard() {
  const rows = await getJson(paths.leaderboard(studyId, 10));
  const previous = leaderIds;
  leaderIds = new Set(rows.map((t) => t.id));
  document.querySelector("#leaderboard tbody").replaceChildren(...rows.map((t, i) =>
    el("tr", { dataset: { trialNumber: t.number }, class: previous && !previous.has(t.id) ? "fresh" : null },
      el("td", { class: "num" }, i + 1),
      el("td", { class: "num" }, `#${t.number}`),
      el("td", { class: "num" }, num(t.value, 6)),
      paramsCell(t.params),
      el("td", { class: "num" }, duration(t.duration_s)))));
  document.getElementById("leaderboard-empty").classList.toggle("hidden", rows.length > 0);
}

async function renderTrials() {
  const data = await getJson(paths.trials(studyId, { offset: page.offset, limit: PAGE, state: page.state }));
  if (data.total > 0 && page.offset >= data.total) {
    // The filter shrank the list under the current page: go to its last page.
    page.offset = Math.floor((data.total - 1) / PAGE) * PAGE;
    return renderTrials();
  }
  const rows = [];
  for (const t of data.items) {
    const row = el("tr", { dataset: { trialNumber: t.number, trialId: t.id }, class: "opens",
      title: "show this trial's log", "aria-expanded": t.id === openTrial ? "true" : "false" },
      el("td", { class: "num" }, `#${t.number}`),
      el("td", { title: t.failure_message || "" }, badge(t.state),
        t.feasible === false ? el("span", { class: "badge infeasible", title: "a constraint is broken" }, "infeasible") : null),
      el("td", { class: "num" }, num(t.value, 6)),
      el("td", { class: "num" }, t.last_step === null ? "–" : t.last_step),
      paramsCell(t.params),
      el("td", { class: "worker", title: t.worker_id || "" }, t.worker_id || "–"),
      el("td", { class: "num" }, t.attempt),
      el("td", { class: "num" }, duration(t.duration_s)),
      el("td", { class: "tags" }, (t.tags || []).join(", ")),
      el("td", { class: "trial-note", title: t.note || "" }, t.note || ""));
    row.addEventListener("click", () => toggleLog(t.id));
    rows.push(row);
    if (t.id === openTrial) rows.push(logRow(t));
  }
  document.querySelector("#trials tbody").replaceChildren(...rows);
  if (openTrial !== null) await fillLog(openTrial);
  const last = Math.min(data.total, page.offset + data.items.length);
  document.getElementById("page-info").textContent =
    data.total ? `${page.offset + 1}–${last} of ${data.total}` : "no trial";
  document.getElementById("page-prev").disabled = page.offset === 0;
  document.getElementById("page-next").disabled = last >= data.total;
}

// A trial's log, under its row: the last LOG_LINES lines of its latest attempt, as text.
function logRow(trial) {
  return el("tr", { class: "log-row", dataset: { logFor: trial.id } },
    el("td", { colspan: 10 },
      el("div", { class: "note" }, `trial #${trial.number}: the last ${LOG_LINES} lines of its log`),
      el("pre", { class: "trial-log" }, "loading…")));
}

async function fillLog(trialId) {
  const row = document.querySelector(`#trials tr.log-row[data-log-for="${trialId}"]`);
  if (!row) return;
  const text = await getText(paths.trialLog(trialId, { tail: LOG_LINES }));
  row.querySelector("pre").textContent = text || "(nothing logged yet)";
}

function toggleLog(trialId) {
  openTrial = openTrial === trialId ? null : trialId;
  renderTrials().catch((error) => showError(error.message));
}

async function renderPlots(study) {
  plotsAt = Date.now();
  const jobs = [
    getJson(paths.plots(studyId)).then(studyPlots.renderAll),
    getJson(paths.curves(studyId)).then(studyPlots.curves),
    pareto.render(study),
  ];
  const completed = study.counts.completed || 0;
  if (completed !== completedAtImportance) {
    completedAtImportance = completed;
    jobs.push(getJson(paths.importance(studyId)).then(studyPlots.importance));
  }
  await Promise.all(jobs);
}

// Plots cost more than the tables: refresh them at most every PLOTS_EVERY_MS, and once more
// after the last change so the final state is always drawn.
function schedulePlots(study) {
  const wait = plotsAt + PLOTS_EVERY_MS - Date.now();
  if (plotsTimer) clearTimeout(plotsTimer);
  const run = () => {
    plotsTimer = null;
    renderPlots(study).catch((error) => showError(error.message));
  };
  if (wait <= 0) run();
  else plotsTimer = setTimeout(run, wait);
}

async function tick() {
  const study = await getJson(paths.study(studyId));
  renderBudget(study);
  const next = JSON.stringify([study.state, study.counts, study.best && study.best.id, study.n_trials]);
  if (next === fingerprint) {
    // Nothing else changed, but an open trial's log grows while it runs.
    if (openTrial !== null) await fillLog(openTrial);
    return;
  }
  const first = fingerprint === null;
  fingerprint = next;
  renderHeader(study);
  await Promise.all([renderLeaderboard(), renderTrials()]);
  if (first) {
    await renderPlots(study);
    // For tests and bench/ui_load.py: everything of the first load is on screen.
    performance.mark("hpo-ready");
    document.body.dataset.ready = "true";
  } else {
    schedulePlots(study);
  }
  showError("");
}

// Through fetch, so the download carries the sign-in token like every other read.
document.getElementById("download-best").addEventListener("click", (event) => {
  event.preventDefault();
  const link = event.currentTarget;
  download(link.getAttribute("href"), link.getAttribute("download"))
    .catch((error) => showError(error.message));
});
document.getElementById("state-filter").addEventListener("change", (event) => {
  page.state = event.target.value;
  page.offset = 0;
  renderTrials().catch((error) => showError(error.message));
});
document.getElementById("page-prev").addEventListener("click", () => {
  page.offset = Math.max(0, page.offset - PAGE);
  renderTrials().catch((error) => showError(error.message));
});
document.getElementById("page-next").addEventListener("click", () => {
  page.offset += PAGE;
  renderTrials().catch((error) => showError(error.message));
});

if (!Number.isInteger(studyId)) {
  showError("This page needs a study id: /studies/<id>.");
} else {
  poll(tick, POLL_MS);
}
