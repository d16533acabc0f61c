// The dashboard's pages, kept live: each asks the JSON API every few seconds and redraws what changed.
// Read-only like the server: nothing here sends anything but GET requests.
"use strict";

const POLL_MS = Number(document.body.dataset.pollMs || 2000);

function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (cls) node.className = cls;
  return node;
}

function fmt(value, digits) {
  return typeof value === "number" && isFinite(value) ? value.toFixed(digits) : "";
}

function pct(value) {
  return typeof value === "number" ? (100 * value).toFixed(1) + "%" : "";
}

function kib(bytes) {
  return typeof bytes === "number" ? (bytes / 1024).toFixed(1) : "";
}

function withSource(text, trial, figure) {
  if (text === "") return "";
  const source = (trial.sources || {})[figure];
  return source ? text + " (" + source + ")" : text;
}

function setLive(ok, why) {
  const live = document.getElementById("live");
  if (!live) return;
  live.className = ok ? "live" : "live stale";
  live.textContent = ok ? "live" : "not updating: " + why;
}

async function getJson(url) {
  const answer = await fetch(url, { credentials: "same-origin", cache: "no-store" });
  if (!answer.ok) {
    let why = answer.status + " " + answer.statusText;
    try { why = (await answer.json()).detail || why; } catch (e) { /* not JSON */ }
    throw new Error(why);
  }
  return answer.json();
}

function poll(step) {
  const tick = async () => {
    try {
      await step();
      setLive(true);
    } catch (e) {
      setLive(false, e.message);
    }
    setTimeout(tick, POLL_MS);
  };
  setTimeout(tick, POLL_MS);
}

// -- the runs under the folder ---------------------------------------------------------------
function drawRuns(data) {
  const table = document.getElementById("runs");
  const none = document.getElementById("no-runs");
  none.hidden = data.runs.length > 0;
  table.hidden = data.runs.length === 0;
  const body = table.querySelector("tbody");
  body.replaceChildren();
  for (const run of data.runs) {
    const row = el("tr");
    row.dataset.run = run.name;
    const link = el("a", run.name);
    link.href = "/run/" + run.name.split("/").map(encodeURIComponent).join("/");
    row.append(el("td"));
    row.lastChild.append(link);
    const state = el("td");
    state.append(el("span", run.state, "state " + run.state));
    if (run.error) state.append(" ", el("span", run.error, "error"));
    row.append(state, el("td", run.task || ""), el("td", run.target || ""), el("td", run.strategy || ""));
    const count = Object.values(run.trials || {}).reduce((a, b) => a + b, 0);
    row.append(el("td", count));
    row.append(el("td", run.best ? pct(run.best.accuracy) : ""));
    row.append(el("td", run.best && typeof run.best.latency_ms === "number" ? fmt(run.best.latency_ms, 2) + " ms" : ""));
    body.append(row);
  }
}

// -- one run -----------------------------------------------------------------------------------
const COLOURS = { complete: "#1f77b4", infeasible: "#d62728", fail: "#7f7f7f", running: "#ff7f0e" };
const LAYOUT = { margin: { l: 60, r: 20, t: 40, b: 50 }, height: 340, legend: { orientation: "h", y: -0.25 } };
const CONFIG = { displaylogo: false, displayModeBar: false, responsive: true };

function signal(trial) {
  if (typeof trial.accuracy === "number") return trial.accuracy;
  return typeof trial.proxy_score === "number" ? trial.proxy_score : null;
}

function scatter(rows, figure, scale, limit, title, xTitle) {
  const traces = [];
  const groups = {};
  for (const t of rows) {
    if (typeof t[figure] !== "number") continue;
    if (signal(t) === null && t.state !== "infeasible") continue;
    const key = t.role === "baseline" ? "baseline" : t.state === "infeasible" ? "infeasible, not trained" : t.state;
    (groups[key] = groups[key] || []).push(t);
  }
  for (const [key, group] of Object.entries(groups)) {
    const untrained = key.startsWith("infeasible");
    traces.push({
      type: "scatter", mode: "markers", name: key,
      x: group.map((t) => t[figure] / scale), y: group.map((t) => (untrained ? 0 : signal(t))),
      text: group.map((t) => (t.role === "baseline" ? "baseline" : "trial " + t.number) + ": " + (t.description || "")),
      marker: {
        size: key === "baseline" ? 12 : 8, color: untrained ? COLOURS.infeasible : COLOURS[key] || "#2ca02c",
        symbol: key === "baseline" ? "star" : untrained ? "line-ns-open" : "circle", line: { width: untrained ? 2 : 0 },
      },
    });
  }
  const shapes = [];
  if (typeof limit === "number") {
    shapes.push({ type: "line", xref: "x", yref: "paper", x0: limit / scale, x1: limit / scale, y0: 0, y1: 1, line: { dash: "dash", color: "#d62728" } });
  }
  const layout = Object.assign({}, LAYOUT, {
    title: { text: title }, shapes: shapes,
    xaxis: { title: { text: xTitle } }, yaxis: { title: { text: "accuracy (validation)" }, tickformat: ".0%", rangemode: "nonnegative" },
  });
  return { traces, layout };
}

function drawCharts(run) {
  const rows = run.trial_rows || [];
  const limits = run.limits || {};
  const lat = scatter(rows, "latency_ms", 1, limits.latency_ms, "accuracy against latency (dashed: the limit)", "latency ms");
  Plotly.react("chart-latency", lat.traces, lat.layout, CONFIG);
  const sram = scatter(rows, "peak_sram_bytes", 1024, limits.sram_bytes, "accuracy against peak SRAM (dashed: the limit)", "peak SRAM KiB");
  Plotly.react("chart-sram", sram.traces, sram.layout, CONFIG);
  const energyChart = document.getElementById("chart-energy");
  const withEnergy = rows.some((t) => typeof t.energy_mj === "number");
  energyChart.hidden = !withEnergy;  // only targets with a power figure price energy
  if (withEnergy) {
    const energy = scatter(rows, "energy_mj", 1, limits.energy_mj, "accuracy against energy per inference", "energy mJ (estimated)");
    Plotly.react("chart-energy", energy.traces, energy.layout, CONFIG);
  }
  const best = run.best_so_far || [];
  Plotly.react("chart-best", [
    { type: "scatter", mode: "markers", name: "each trial", x: best.map((p) => p.number), y: best.map((p) => p.accuracy), marker: { color: "#9ecae1" } },
    { type: "scatter", mode: "lines", line: { shape: "hv" }, name: "best so far", x: best.map((p) => p.number), y: best.map((p) => p.best) },
  ], Object.assign({}, LAYOUT, {
    title: { text: "best accuracy so far" }, xaxis: { title: { text: "trial number" }, rangemode: "nonnegative", tickformat: "d" },
    yaxis: { title: { text: "accuracy" }, tickformat: ".0%", rangemode: "nonnegative", range: best.length ? undefined : [0, 1] },
    annotations: best.length ? [] : [{ text: "no completed trial yet", xref: "paper", yref: "paper", x: 0.5, y: 0.5, showarrow: false }],
  }), CONFIG);
  const pairs = run.estimated_vs_measured || [];
  const chart = document.getElementById("chart-measured");
  const note = document.getElementById("measured-note");
  if (pairs.length === 0) {
    chart.hidden = true;
    note.textContent = "No figure of this run is held both estimated and measured yet (a device latency of the finalists, "
      + "or TFLite Micro's arena and the int8 file: written when the search finalises).";
    return;
  }
  chart.hidden = false;
  note.textContent = pairs.map((p) => p.trial + " " + p.figure + ": " + p.source + " " + fmt(p.estimate, 3)
    + ", measured (" + p.by + ") " + fmt(p.measured, 3)).join("; ");
  Plotly.react("chart-measured", [{
    type: "bar", name: "measured ÷ search's figure",
    x: pairs.map((p) => p.trial + " " + p.figure), y: pairs.map((p) => p.measured / p.estimate),
    textposition: "none", hovertext: pairs.map((p) => p.source + " " + fmt(p.estimate, 3) + ", measured " + fmt(p.measured, 3) + " (" + p.by + ")"),
  }], Object.assign({}, LAYOUT, {
    title: { text: "measured ÷ the search's figure (1: they agree)" }, yaxis: { title: { text: "ratio" } },
    shapes: [{ type: "line", xref: "paper", yref: "y", x0: 0, x1: 1, y0: 1, y1: 1, line: { dash: "dash", color: "#888" } }],
  }), CONFIG);
}

function drawTrials(run) {
  const body = document.querySelector("#trials tbody");
  body.replaceChildren();
  for (const t of run.trial_rows || []) {
    const row = el("tr", null, "trial " + t.state);
    row.dataset.number = t.number;
    const accuracy = typeof t.accuracy === "number" ? pct(t.accuracy) : (t.proxy ? t.proxy + " " + fmt(t.proxy_score, 4) : "");
    row.append(
      el("td", t.number), el("td", t.role), el("td", t.state), el("td", accuracy),
      el("td", withSource(fmt(t.latency_ms, 3), t, "latency_ms")),
      el("td", withSource(kib(t.peak_sram_bytes), t, "peak_sram_bytes")),
      el("td", withSource(kib(t.flash_bytes), t, "flash_bytes")),
      el("td", withSource(typeof t.macs === "number" ? t.macs.toLocaleString() : "", t, "macs")),
      el("td", typeof t.params === "number" ? t.params.toLocaleString() : ""),
      el("td", withSource(fmt(t.energy_mj, 4), t, "energy_mj")),
      el("td", (t.violations || []).join("; ") || (t.error || "")),
      el("td", t.worker || ""), el("td", t.device || ""), el("td", fmt(t.wall_s, 1)),
    );
    body.append(row);
  }
}

function drawFacts(run) {
  const state = document.getElementById("state");
  state.textContent = run.state;
  state.className = "state " + run.state;
  document.getElementById("unreadable").hidden = run.state !== "unreadable";
  document.getElementById("unreadable-reason").textContent = run.error || "";
  for (const key of ["task", "target", "strategy", "evaluator"]) {
    document.getElementById("fact-" + key).textContent = run[key] || "";
  }
  const limits = run.limits || {};
  const parts = [];
  if (typeof limits.latency_ms === "number") parts.push("latency ≤ " + limits.latency_ms + " ms");
  if (typeof limits.sram_bytes === "number") parts.push("SRAM ≤ " + kib(limits.sram_bytes) + " KiB");
  if (typeof limits.flash_bytes === "number") parts.push("flash ≤ " + kib(limits.flash_bytes) + " KiB");
  if (typeof limits.energy_mj === "number") parts.push("energy ≤ " + limits.energy_mj + " mJ");
  document.getElementById("fact-limits").textContent = parts.join(", ") || "none";
  let latency = "estimated (analytical model)";
  if (run.latency_measured_by) latency = "measured by " + run.latency_measured_by;
  else if (run.latency_predicted_by) latency = "predicted by " + (run.latency_predicted_by.kind || "a latency predictor");
  document.getElementById("fact-latency").textContent = latency;
  const rows = run.trial_rows || [];
  document.getElementById("trial-count").textContent = rows.filter((t) => t.role === "search").length;
  const counts = Object.entries(run.trials || {}).map(([k, v]) => v + " " + k).join(", ");
  const baseline = rows.some((t) => t.role === "baseline") ? " + the baseline" : "";
  document.getElementById("trial-states").textContent = counts ? "(" + counts + ")" + baseline : baseline;
  const best = run.best;
  document.getElementById("fact-best").textContent = best
    ? "trial " + best.number + ": " + pct(best.accuracy) + " at " + fmt(best.latency_ms, 3) + " ms, " + kib(best.peak_sram_bytes) + " KiB SRAM"
    : "no completed trial yet";
  const pareto = document.getElementById("pareto");
  pareto.hidden = !run.pareto_png;
  if (run.pareto_png && run.pareto_url) {
    const img = document.getElementById("pareto-png");
    if (img.getAttribute("src") !== run.pareto_url) img.src = run.pareto_url;
  }
  if (run.profile_note !== undefined) document.getElementById("profile-note").textContent = run.profile_note || "";
  drawProfile(run.profile);
}

function drawProfile(profile) {
  const table = document.getElementById("profile");
  const body = table.querySelector("tbody");
  body.replaceChildren();
  table.hidden = !profile;
  if (!profile) return;
  for (const op of profile.operators) {
    const tr = el("tr");
    for (const cell of [op.index, op.name, op.builtin, op.kernel, op.path, op.macs.toLocaleString("en-US"), fmt(op.latency_ms, 3), pct(op.share)]) {
      tr.appendChild(el("td", String(cell)));
    }
    if (op.path !== "cmsis-nn fast" && op.path !== "runtime" && op.path !== "none") tr.className = "slow-path";
    body.appendChild(tr);
  }
}

function drawRun(run) {
  document.body.dataset.signature = run.signature;
  drawFacts(run);
  if (run.state === "unreadable") return;
  drawTrials(run);
  drawCharts(run);
}

async function startRun() {
  const api = document.body.dataset.api;
  const load = async () => {
    const since = encodeURIComponent(document.body.dataset.signature || "");
    const run = await getJson(api + "?since=" + since);
    if (!run.unchanged) drawRun(run);
  };
  try {
    drawRun(await getJson(api));
    setLive(true);
  } catch (e) {
    setLive(false, e.message);
  }
  poll(load);
}

if (document.body.dataset.page === "index") {
  poll(async () => drawRuns(await getJson("/api/runs")));
} else if (document.body.dataset.page === "run") {
  startRun();
}
