"use strict";

/* The play page: one WebSocket session on this server's /ws, spoken as the clients speak it
   (JSON messages with an id each reply echoes), and the action form built from /schema. */

const play = {
  token: sessionStorage.getItem("envtorch-token") || "",
  socket: null,
  nextId: 0,
  pending: new Map(),
  schema: null,
  metadata: null,
  readers: [],
  history: [],
  busy: false,
  over: true,
};

const $ = (id) => document.getElementById(id);

function serverUrl(path) {
  return new URL("../" + path, location.href);
}

function authHeaders() {
  return play.token ? { Authorization: "Bearer " + play.token } : {};
}

/* The token as the subprotocol the server reads when a WebSocket cannot send the header. */
function bearerProtocol(token) {
  const bytes = new TextEncoder().encode(token);
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return "envtorch.bearer." + btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

class Unauthorized extends Error {}

async function getJson(path) {
  const response = await fetch(serverUrl(path), { headers: authHeaders(), cache: "no-store" });
  if (response.status === 401) throw new Unauthorized("unauthorized");
  const body = await response.json();
  if (!response.ok) throw new Error((body && body.data && body.data.message) || response.statusText);
  return body;
}

function setStatus(text, kind) {
  const status = $("status");
  status.textContent = text;
  status.className = "status" + (kind ? " " + kind : "");
}

async function start() {
  try {
    await getJson("health");
    $("token-panel").hidden = true;
    play.schema = await getJson("schema");
    play.metadata = await getJson("metadata");
  } catch (error) {
    if (error instanceof Unauthorized) return askForToken(play.token ? "The server refused this token." : "");
    return setStatus("cannot reach the server: " + error.message, "down");
  }
  describeEnvironment();
  buildActionForm(play.schema.action);
  connect();
}

function askForToken(message) {
  setStatus("this server needs its bearer token", "down");
  $("token-panel").hidden = false;
  $("token-error").textContent = message;
  $("token").focus();
}

function describeEnvironment() {
  const metadata = play.metadata;
  $("env-name").textContent = metadata.name || "envtorch";
  $("env-description").textContent = metadata.description || "";
  document.title = "envtorch: " + (metadata.name || "play");
  $("frame-mode").textContent = metadata.render_mode ? "render mode " + metadata.render_mode : "";
}

function connect() {
  if (play.socket) play.socket.close(1000);
  const url = serverUrl("ws");
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  /* "envtorch" asks for envtorch's dialect (request ids, whole observations); the token rides beside it. */
  const socket = new WebSocket(url, play.token ? ["envtorch", bearerProtocol(play.token)] : ["envtorch"]);
  play.socket = socket;
  play.over = true;
  setStatus("connecting…");
  updateButtons();
  socket.onopen = () => {
    setStatus("connected: a new session, press Reset to start an episode", "ok");
    updateButtons();
  };
  socket.onmessage = (event) => receive(event.data);
  socket.onclose = (event) => {
    if (socket !== play.socket) return;
    for (const waiting of play.pending.values()) waiting.reject(new Error("the connection closed"));
    play.pending.clear();
    const reason = event.reason ? ": " + event.reason : "";
    setStatus(`disconnected (${event.code}${reason}); press New session`, "down");
    updateButtons();
  };
}

function receive(text) {
  let reply;
  try {
    reply = JSON.parse(text);
  } catch (error) {
    return setStatus("unreadable reply from the server", "down");
  }
  const id = reply.id === undefined || reply.id === null ? play.pending.keys().next().value : reply.id;
  const waiting = play.pending.get(id);
  if (!waiting) {
    if (reply.type === "error") setStatus(reply.data.message + " [" + reply.data.code + "]", "down");
    return;
  }
  play.pending.delete(id);
  if (reply.type === "error") waiting.reject(new Error(reply.data.message + " [" + reply.data.code + "]"));
  else waiting.resolve(reply.data);
}

function request(type, data) {
  return new Promise((resolve, reject) => {
    if (!play.socket || play.socket.readyState !== WebSocket.OPEN) return reject(new Error("not connected"));
    const id = ++play.nextId;
    play.pending.set(id, { resolve, reject });
    const message = { type, id };
    if (data !== undefined) message.data = data;
    play.socket.send(JSON.stringify(message));
  });
}

function connected() {
  return play.socket !== null && play.socket.readyState === WebSocket.OPEN;
}

function updateButtons() {
  $("reset").disabled = play.busy || !connected();
  $("step").disabled = play.busy || !connected() || play.over;
  $("reconnect").disabled = play.busy || play.socket === null || play.socket.readyState === WebSocket.CONNECTING;
}

/* One request sequence at a time; `data-busy` on the body says one runs (tests wait on it). */
async function busyWith(work) {
  play.busy = true;
  document.body.dataset.busy = "yes";
  updateButtons();
  try {
    await work();
  } finally {
    play.busy = false;
    delete document.body.dataset.busy;
    updateButtons();
  }
}

function readTask() {
  const text = $("task").value.trim();
  if (text === "") return null;
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new Error("task is not JSON: " + error.message);
  }
}

async function resetEpisode() {
  $("action-error").textContent = "";
  const seedText = $("seed").value.trim();
  let task;
  try {
    task = readTask();
  } catch (error) {
    $("action-error").textContent = error.message;
    return;
  }
  const data = await request("reset", { seed: seedText === "" ? null : Number(seedText), task });
  play.history = [];
  play.over = Boolean(data.done || data.truncated);
  showObservation(data, "after reset");
  renderHistory(-1);
  setStatus("episode running", "ok");
  await refresh();
}

async function step() {
  $("action-error").textContent = "";
  let action;
  try {
    action = readAction();
  } catch (error) {
    $("action-error").textContent = error.message;
    return;
  }
  let data;
  try {
    data = await request("step", action);
  } catch (error) {
    $("action-error").textContent = error.message;
    return;
  }
  play.history.push({ action, data });
  play.over = Boolean(data.done || data.truncated);
  showObservation(data, "after step " + play.history.length);
  renderHistory(play.history.length - 1);
  if (play.over) setStatus("episode over: press Reset for a new one", "ok");
  await refresh();
}

async function refresh() {
  try {
    showState(await request("state"));
  } catch (error) {
    replaceChildren($("state"), el("p", { className: "error" }, error.message));
  }
  try {
    showFrame((await request("render")).frame, "");
  } catch (error) {
    showFrame(null, "the server could not render: " + error.message);
  }
}

function showObservation(data, title) {
  $("observation-title").textContent = title;
  const ended = data.done ? "on" : "";
  replaceChildren(
    $("outcome"),
    el("span", { id: "reward", className: "badge" }, "reward " + formatNumber(data.reward)),
    el("span", { id: "done", className: "badge " + ended }, "done " + Boolean(data.done)),
    el("span", { id: "truncated", className: "badge " + (data.truncated ? "on" : "") }, "truncated " + Boolean(data.truncated)),
  );
  replaceChildren($("observation"), fieldsTable(data.observation || {}));
  const metadata = data.metadata || {};
  $("metadata-box").hidden = Object.keys(metadata).length === 0;
  replaceChildren($("metadata"), fieldsTable(metadata));
}

function showState(state) {
  const declared = Object.keys((play.schema.state && play.schema.state.properties) || {});
  const hidden = declared.filter((name) => !(name in state));
  $("episode-id").textContent = state.episode_id ? String(state.episode_id) : "";
  replaceChildren($("state"), fieldsTable(state, hidden));
}

function showFrame(frame, problem) {
  const node = frame === null || frame === undefined ? null : frameNode(frame);
  $("frame-panel").hidden = node === null && !problem;
  replaceChildren($("frame"), node || el("p", { className: "muted" }, problem));
}

function renderHistory(current) {
  const items = play.history.map((entry, index) =>
    el("li", { className: index === current ? "current" : "", onclick: () => {
      showObservation(entry.data, "after step " + (index + 1));
      renderHistory(index);
    } }, actionSummary(entry.action) + " → reward " + formatNumber(entry.data.reward)));
  replaceChildren($("history"), items);
}

function actionSummary(action) {
  const text = typeof action.code === "string" ? action.code : JSON.stringify(action);
  const line = text.split("\n").find((part) => part.trim() !== "") || "";
  return line.length > 60 ? line.slice(0, 59) + "…" : line;
}

/* The action form: one field per property of the action's JSON Schema. */

function buildActionForm(schema) {
  const required = new Set(schema.required || []);
  $("action-title").textContent = schema.title || "";
  const fields = Object.entries(schema.properties || {}).map(([name, spec]) => buildField(name, spec, required.has(name)));
  play.readers = fields.map((field) => field.read);
  replaceChildren($("action-fields"), fields.length ? fields.map((field) => field.node) : el("p", { className: "muted" }, "This action has no fields."));
}

function describeSpec(spec) {
  let resolved = spec;
  let nullable = false;
  if (Array.isArray(spec.anyOf)) {
    const options = spec.anyOf.filter((option) => option.type !== "null");
    nullable = options.length < spec.anyOf.length;
    if (options.length === 1) resolved = options[0];
  }
  let kind = "json";
  if (Array.isArray(resolved.enum)) kind = "enum";
  else if (["string", "integer", "number", "boolean"].includes(resolved.type)) kind = resolved.type;
  return { kind, spec: resolved, nullable, hasDefault: "default" in spec, fallback: spec.default };
}

function buildField(name, spec, required) {
  const described = describeSpec(spec);
  const kind = name === "code" && described.kind === "string" ? "code" : described.kind;
  const id = "field-" + name;
  const input = fieldInput(kind, id, described);
  const label = el("label", { for: id }, name, " ", el("span", { className: "kind" }, kindLabel(kind, described, required)));
  const node = el("div", { className: "field" }, label, input);
  if (spec.description) node.append(el("span", { className: "muted" }, spec.description));
  return { node, read: (action) => readField(action, name, kind, input, described, required) };
}

function kindLabel(kind, described, required) {
  const type = kind === "json" ? "JSON" : kind === "code" ? "Python code" : kind;
  return type + (described.nullable ? " or null" : "") + (required ? "" : ", optional");
}

function fieldInput(kind, id, described) {
  const initial = described.hasDefault ? described.fallback : undefined;
  if (kind === "code") {
    const area = el("textarea", { id, className: "code", spellcheck: "false", autocapitalize: "off", autocomplete: "off", placeholder: "print('hello')" });
    area.value = typeof initial === "string" ? initial : "";
    area.addEventListener("keydown", editCode);
    return area;
  }
  if (kind === "boolean") {
    const box = el("input", { id, type: "checkbox" });
    box.checked = initial === true;
    return box;
  }
  if (kind === "enum") {
    const select = el("select", { id });
    if (described.nullable) select.append(el("option", { value: "null" }, "null"));
    for (const option of described.spec.enum) select.append(el("option", { value: JSON.stringify(option) }, String(option)));
    if (initial !== undefined) select.value = JSON.stringify(initial);
    return select;
  }
  if (kind === "integer" || kind === "number") {
    const input = el("input", { id, type: "number", step: kind === "integer" ? "1" : "any" });
    if (typeof initial === "number") input.value = String(initial);
    return input;
  }
  if (kind === "string") {
    const input = el("input", { id, type: "text", size: "40" });
    if (typeof initial === "string") input.value = initial;
    return input;
  }
  const area = el("textarea", { id, className: "json", spellcheck: "false" });
  if (initial !== undefined) area.value = JSON.stringify(initial, null, 2);
  return area;
}

function readField(action, name, kind, input, described, required) {
  if (kind === "boolean") {
    action[name] = input.checked;
    return;
  }
  if (kind === "enum") {
    action[name] = JSON.parse(input.value);
    return;
  }
  const text = input.value;
  if (kind === "code" || kind === "string") {
    action[name] = text === "" && described.nullable ? null : text;
    return;
  }
  if (text.trim() === "") {
    if (required) throw new Error(name + " is required");
    if (described.nullable) action[name] = null;
    return;
  }
  if (kind === "integer" || kind === "number") {
    const number = Number(text);
    if (!Number.isFinite(number) || (kind === "integer" && !Number.isInteger(number))) {
      throw new Error(name + " must be " + (kind === "integer" ? "an integer" : "a number"));
    }
    action[name] = number;
    return;
  }
  try {
    action[name] = JSON.parse(text);
  } catch (error) {
    throw new Error(name + " is not JSON: " + error.message);
  }
}

function readAction() {
  const action = {};
  for (const read of play.readers) read(action);
  return action;
}

/* The code editor: Tab indents, Enter keeps the indentation (one level more after a colon),
   Escape then Tab leaves the editor. */
function editCode(event) {
  const area = event.target;
  if (event.key === "Escape") {
    area.dataset.leaving = "yes";
    return;
  }
  const leaving = area.dataset.leaving === "yes";
  delete area.dataset.leaving;
  if (event.key === "Tab" && !event.shiftKey && !leaving) {
    event.preventDefault();
    insertText(area, "    ");
  } else if (event.key === "Enter" && !event.ctrlKey && !event.metaKey && !event.shiftKey) {
    event.preventDefault();
    const before = area.value.slice(0, area.selectionStart);
    const line = before.slice(before.lastIndexOf("\n") + 1);
    const indent = line.match(/^[ \t]*/)[0] + (line.trimEnd().endsWith(":") ? "    " : "");
    insertText(area, "\n" + indent);
  }
}

function insertText(area, text) {
  if (!document.execCommand("insertText", false, text)) {
    area.setRangeText(text, area.selectionStart, area.selectionEnd, "end");
  }
}

function reportFailure(error) {
  $("action-error").textContent = error.message;
}

document.addEventListener("DOMContentLoaded", () => {
  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    play.token = $("token").value;
    sessionStorage.setItem("envtorch-token", play.token);
    start();
  });
  $("reset-form").addEventListener("submit", (event) => {
    event.preventDefault();
    busyWith(resetEpisode).catch(reportFailure);
  });
  $("action-form").addEventListener("submit", (event) => {
    event.preventDefault();
    if (!$("step").disabled) busyWith(step).catch(reportFailure);
  });
  $("action-form").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      $("action-form").requestSubmit();
    }
  });
  $("reconnect").addEventListener("click", () => {
    play.history = [];
    renderHistory(-1);
    connect();
  });
  start();
});
