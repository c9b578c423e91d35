// Charts: one ECharts instance per element, resized with the window. ECharts itself is the
// vendored classic script (the `echarts` global), loaded by each page before its modules.

export const STATE_COLORS = {
  completed: "#2e9d5b",
  running: "#2f6fde",
  queued: "#8a94a0",
  pruned: "#d9822b",
  failed: "#d64545",
};
export const PALETTE = ["#2f6fde", "#d9822b", "#2e9d5b", "#a544c9", "#d64545", "#1f9aa8",
  "#8a6d3b", "#e05fa0", "#5a6b7d", "#6aa84f"];

export const baseGrid = { left: 64, right: 24, top: 36, bottom: 48, containLabel: false };
export const axisName = { nameLocation: "middle", nameGap: 30, nameTextStyle: { color: "#64707d" } };

const charts = new Map();

export function chart(id) {
  let instance = charts.get(id);
  if (!instance) {
    instance = echarts.init(document.getElementById(id), null, { renderer: "canvas" });
    charts.set(id, instance);
  }
  return instance;
}

export function disposeChart(id) {
  const instance = charts.get(id);
  if (instance) instance.dispose();
  charts.delete(id);
}

window.addEventListener("resize", () => charts.forEach((c) => c.resize()));

// Shows a message in place of a chart (no data yet) or the chart itself.
export function chartMessage(id, message) {
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
