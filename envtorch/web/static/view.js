"use strict";

/* The trajectory browser: pages of summaries from /api/trajectories, one trajectory or one group
   at a time, and the per-batch reward plot from /api/summary. */

const view = { summary: null, offset: 0, limit: 50, total: 0, episode: null, step: 0 };
const $ = (id) => document.getElementById(id);
const COLORS = ["#2f5bd3", "#d9480f", "#2b8a3e", "#862e9c", "#c2255c", "#0b7285", "#e67700", "#5c7cfa"];

async function getJson(path) {
  const response = await fetch(path, { cache: "no-store" });
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}

async function start() {
  const summary = (view.summary = await getJson("api/summary"));
  $("file").textContent = summary.path;
  $("totals").textContent = `${summary.count} trajectories · ${summary.groups} groups · ${summary.batches.length} batches · ${summary.failures} failed`;
  if (summary.problem_count) {
    $("problems").hidden = false;
    $("problems").textContent = `${summary.problem_count} unreadable lines left out: ` + summary.problems.join("; ");
  }
  drawPlot(summary.batches);
  await loadPage();
  await route();
}

/* The list. */

function filters() {
  const params = new URLSearchParams();
  for (const [name, value] of new FormData($("filters"))) {
    if (String(value).trim() !== "") params.set(name, String(value).trim());
  }
  return params;
}

async function loadPage() {
  const params = filters();
  params.set("offset", String(view.offset));
  params.set("limit", String(view.limit));
  $("list-error").textContent = "";
  let page;
  try {
    page = await getJson("api/trajectories?" + params);
  } catch (error) {
    $("list-error").textContent = error.message;
    return;
  }
  view.total = page.total;
  replaceChildren($("episodes").tBodies[0], page.trajectories.map(summaryRow));
  const last = Math.min(view.offset + page.trajectories.length, page.total);
  $("page").textContent = page.total ? `${view.offset + 1}-${last} of ${page.total}` : "none match";
  $("match-count").textContent = page.total + " match";
  $("previous").disabled = view.offset === 0;
  $("next").disabled = last >= page.total;
}

function summaryRow(summary) {
  const end = summary.failure ? "failed" : summary.truncated ? "truncated" : summary.done ? "done" : "";
  const groupLink = el("button", { type: "button", className: "secondary", title: "the group side by side",
    onclick: (event) => { event.stopPropagation(); location.hash = "group=" + summary.group; } }, String(summary.group));
  return el("tr", { className: summary.failure ? "failed" : "", "data-index": summary.index,
    onclick: () => { location.hash = "episode=" + summary.index; } },
    el("td", {}, groupLink),
    el("td", {}, String(summary.episode)),
    el("td", {}, String(summary.batch)),
    el("td", {}, formatNumber(summary.reward)),
    el("td", {}, String(summary.steps)),
    el("td", {}, end),
    el("td", { className: "failure", title: summary.failure || "" }, summary.failure || ""),
    el("td", { className: "task", title: summary.task }, summary.task));
}

/* One episode, step by step. */

async function route() {
  const params = new URLSearchParams(location.hash.slice(1));
  try {
    if (params.has("episode")) await showEpisode(Number(params.get("episode")), Number(params.get("step") || 0));
    else if (params.has("group")) await showGroup(Number(params.get("group")));
  } catch (error) {
    $("detail-title").textContent = "Cannot show it";
    replaceChildren($("detail"), el("p", { className: "error" }, error.message));
  }
}

async function showEpisode(index, step) {
  widenDetail(false);
  if (!view.episode || view.episode.summary.index !== index) view.episode = await getJson("api/trajectories/" + index);
  const { summary, row } = view.episode;
  const steps = row.steps || [];
  view.step = Math.max(0, Math.min(step || 0, Math.max(steps.length - 1, 0)));
  $("detail-title").textContent = `Episode ${summary.episode} · group ${summary.group} · batch ${summary.batch}`;
  const outcome = el("div", { className: "badges" },
    badge("reward " + formatNumber(summary.reward), summary.failure ? "bad" : ""),
    badge(summary.steps + " steps"),
    summary.done ? badge("done", "on") : null,
    summary.truncated ? badge("truncated", "on") : null,
    summary.failure ? badge("failed", "bad") : null,
    el("button", { type: "button", className: "secondary", onclick: () => { location.hash = "group=" + summary.group; } }, "its group"));
  const parts = [outcome];
  if (summary.failure) parts.push(el("p", { className: "error" }, summary.failure));
  parts.push(el("details", {}, el("summary", {}, "task"), valueNode(row.task)));
  if (steps.length === 0) {
    parts.push(el("p", { className: "muted" }, "No step was taken."));
    if (row.last_observation) parts.push(el("h3", {}, "Last observation"), fieldsTable(row.last_observation));
  } else {
    parts.push(stepNavigation(index, steps.length), stepView(steps, row.last_observation, view.step));
  }
  replaceChildren($("detail"), parts);
}

function stepNavigation(index, count) {
  const go = (step) => { location.hash = `episode=${index}&step=${step}`; };
  return el("div", { className: "step-nav" },
    el("button", { type: "button", className: "secondary", id: "step-previous", disabled: view.step === 0, onclick: () => go(view.step - 1) }, "◀"),
    el("span", { id: "step-position" }, `step ${view.step + 1} of ${count}`),
    el("button", { type: "button", className: "secondary", id: "step-next", disabled: view.step >= count - 1, onclick: () => go(view.step + 1) }, "▶"),
    el("span", { className: "muted" }, "← → keys"));
}

function stepView(steps, lastObservation, at) {
  const current = steps[at];
  const result = at + 1 < steps.length ? steps[at + 1].observation : lastObservation;
  return el("div", { className: "fields", id: "step-view" },
    el("h3", {}, "Observation the policy saw"), fieldsTable(current.observation),
    el("h3", {}, "Action"), el("div", { id: "step-action" }, actionNode(current.action)),
    el("h3", {}, "Reward ", formatNumber(current.reward)),
    el("h3", {}, "What the step returned"),
    result ? el("div", { id: "step-result" }, fieldsTable(result)) : el("p", { className: "muted" }, "not recorded"));
}

/* A group, side by side. */

function widenDetail(wide) {
  $("detail-panel").classList.toggle("wide", wide);
}

async function showGroup(group) {
  view.episode = null;
  widenDetail(true);
  const data = await getJson("api/groups/" + group);
  const shown = data.trajectories.length;
  $("detail-title").textContent = `Group ${group}: ${data.size} episodes` + (shown < data.size ? ` (the first ${shown} shown)` : "");
  const columns = data.trajectories.map(({ summary, row }) => memberColumn(summary, row));
  replaceChildren($("detail"), el("div", { className: "group-grid", id: "group-grid" }, columns));
  $("detail-panel").scrollIntoView({ block: "start" });
}

function memberColumn(summary, row) {
  const steps = row.steps || [];
  const turns = steps.map((step, at) => {
    const result = at + 1 < steps.length ? steps[at + 1].observation : row.last_observation;
    return el("div", { className: "turn" },
      el("div", { className: "muted" }, `step ${at + 1} · reward ${formatNumber(step.reward)}`),
      actionNode(step.action),
      result ? fieldsTable(result, [], true) : null);
  });
  return el("div", { className: "member", "data-index": summary.index },
    el("h3", {}, el("a", { href: "#episode=" + summary.index }, "episode " + summary.episode), " · reward " + formatNumber(summary.reward)),
    summary.failure ? el("p", { className: "error" }, summary.failure) : null,
    turns.length ? turns : el("p", { className: "muted" }, "no step"));
}

/* The plot: mean reward and each reward term per batch, as an inline SVG. */

function drawPlot(batches) {
  const names = [...new Set(batches.flatMap((point) => Object.keys(point.terms)))].sort();
  const series = [{ name: "mean reward", values: batches.map((point) => point.mean_reward) }].concat(
    names.map((name) => ({ name, values: batches.map((point) => (name in point.terms ? point.terms[name] : null)) })));
  const all = series.flatMap((line) => line.values).filter((value) => value !== null);
  if (batches.length === 0 || all.length === 0) {
    replaceChildren($("plot"), el("p", { className: "muted" }, "No finished trajectory has a reward yet."));
    return;
  }
  const width = 900, height = 200, left = 52, right = 14, top = 12, bottom = 30;
  const ticks = niceTicks(Math.min(0, ...all), Math.max(...all));
  const low = ticks[0], high = ticks[ticks.length - 1];
  const first = batches[0].batch, lastBatch = batches[batches.length - 1].batch;
  const x = (batch) => left + (lastBatch === first ? 0.5 : (batch - first) / (lastBatch - first)) * (width - left - right);
  const y = (value) => top + (1 - (value - low) / (high - low)) * (height - top - bottom);
  const svg = svgEl("svg", { class: "plot", id: "reward-plot", viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": "reward per batch" });
  for (const value of ticks) {
    svg.append(svgEl("line", { x1: left, x2: width - right, y1: y(value), y2: y(value), stroke: "#e3e7ee" }),
      svgEl("text", { x: left - 6, y: y(value) + 4, "text-anchor": "end" }, formatNumber(value)));
  }
  const every = Math.max(1, Math.ceil(batches.length / 10));
  batches.forEach((point, at) => {
    if (at % every === 0) svg.append(svgEl("text", { x: x(point.batch), y: height - 10, "text-anchor": "middle" }, String(point.batch)));
  });
  svg.append(svgEl("text", { x: width - right, y: height - 10, "text-anchor": "end" }, "batch"));
  series.slice().reverse().forEach((line, reversed) => {
    const number = series.length - 1 - reversed;
    const color = COLORS[number % COLORS.length];
    let segment = [];
    const flush = () => {
      if (segment.length > 1) svg.append(svgEl("polyline", { points: segment.join(" "), fill: "none", stroke: color, "stroke-width": number === 0 ? 2.5 : 1.5 }));
      segment = [];
    };
    line.values.forEach((value, at) => {
      if (value === null) return flush();
      segment.push(`${x(batches[at].batch).toFixed(1)},${y(value).toFixed(1)}`);
      if (batches.length <= 200) {
        const dot = svgEl("circle", { cx: x(batches[at].batch), cy: y(value), r: 3, fill: color },
          svgEl("title", {}, `batch ${batches[at].batch}: ${line.name} ${formatNumber(value)} (${batches[at].trajectories} trajectories, ${batches[at].failures} failed); click to list it`));
        dot.addEventListener("click", () => filterBatch(batches[at].batch));
        svg.append(dot);
      }
    });
    flush();
  });
  replaceChildren($("plot"), svg);
  replaceChildren($("legend"), series.map((line, number) => {
    const swatch = el("span", { className: "swatch" });
    swatch.style.background = COLORS[number % COLORS.length];
    return el("span", {}, swatch, line.name);
  }));
}

/* Round tick values (steps of 1, 2 or 5 times a power of ten) covering `low` to `high`. */
function niceTicks(low, high) {
  if (high - low < 1e-9) high = low + 1;
  const rough = (high - low) / 4;
  const power = Math.pow(10, Math.floor(Math.log10(rough)));
  const step = [1, 2, 5, 10].map((factor) => factor * power).find((size) => size >= rough);
  const ticks = [];
  for (let value = Math.floor(low / step) * step; value < high + step - 1e-9; value += step) {
    ticks.push(Number(value.toPrecision(12)));
  }
  return ticks;
}

function filterBatch(batch) {
  $("filters").elements.batch.value = String(batch);
  view.offset = 0;
  loadPage();
}

function typing(event) {
  return ["INPUT", "TEXTAREA", "SELECT"].includes(event.target.tagName);
}

document.addEventListener("DOMContentLoaded", () => {
  $("filters").addEventListener("submit", (event) => {
    event.preventDefault();
    view.offset = 0;
    loadPage();
  });
  $("filters").addEventListener("reset", () => {
    setTimeout(() => { view.offset = 0; loadPage(); });
  });
  $("previous").addEventListener("click", () => { view.offset = Math.max(0, view.offset - view.limit); loadPage(); });
  $("next").addEventListener("click", () => { view.offset += view.limit; loadPage(); });
  window.addEventListener("hashchange", route);
  document.addEventListener("keydown", (event) => {
    if (typing(event) || !view.episode) return;
    const count = (view.episode.row.steps || []).length;
    const index = view.episode.summary.index;
    if (event.key === "ArrowRight" && view.step < count - 1) location.hash = `episode=${index}&step=${view.step + 1}`;
    if (event.key === "ArrowLeft" && view.step > 0) location.hash = `episode=${index}&step=${view.step - 1}`;
  });
  start().catch((error) => {
    $("totals").textContent = "cannot load: " + error.message;
  });
});
