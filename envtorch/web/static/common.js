"use strict";

/* Shared by the play page and the trajectory viewer. Every value shown comes from an agent or an
   environment, so it only ever reaches the page as text (textContent), never as HTML. */

function el(tag, attributes, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value === false || value === null || value === undefined) continue;
    if (name === "className") node.className = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

function svgEl(tag, attributes, ...children) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [name, value] of Object.entries(attributes || {})) node.setAttribute(name, String(value));
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

function formatNumber(value) {
  if (value === null || value === undefined) return "–";
  if (Number.isInteger(value)) return String(value);
  return Number(value).toFixed(3).replace(/\.?0+$/, "");
}

function isMultiline(value) {
  return typeof value === "string" && (value.includes("\n") || value.length > 80);
}

/* One value as an element: text as it is (long or multi-line text in a <pre>), the rest as JSON. */
function valueNode(value) {
  if (typeof value === "string") {
    if (value === "") return el("span", { className: "muted" }, '""');
    return isMultiline(value) ? el("pre", { className: "block" }, value) : el("span", {}, value);
  }
  if (value === null || value === undefined) return el("span", { className: "muted" }, "null");
  if (typeof value === "object") {
    const text = JSON.stringify(value, null, 2);
    return text.length > 60 || text.includes("\n") ? el("pre", { className: "block" }, text) : el("span", {}, JSON.stringify(value));
  }
  return el("span", {}, String(value));
}

function isEmpty(value) {
  if (value === null || value === undefined || value === "" || value === false) return true;
  return typeof value === "object" && Object.keys(value).length === 0;
}

/* A two-column table of an object's fields; `hiddenNames` are shown as hidden, without a value.
   A `compact` table leaves out empty fields (null, "", false, {} and []). */
function fieldsTable(fields, hiddenNames, compact) {
  const table = el("table", { className: "values" });
  for (const [name, value] of Object.entries(fields || {})) {
    if (compact && isEmpty(value)) continue;
    table.append(el("tr", { "data-field": name }, el("th", {}, name), el("td", {}, valueNode(value))));
  }
  for (const name of hiddenNames || []) {
    table.append(
      el("tr", { "data-field": name, className: "hidden-field" },
        el("th", {}, name), el("td", { className: "hidden-value" }, "hidden by the environment")));
  }
  return table;
}

/* An action: its `code` field as code, the rest as fields. */
function actionNode(action) {
  if (action && typeof action === "object" && typeof action.code === "string") {
    const rest = Object.fromEntries(Object.entries(action).filter(([name]) => name !== "code"));
    const code = el("pre", { className: "block code" }, action.code);
    return Object.keys(rest).length ? el("div", {}, code, fieldsTable(rest)) : code;
  }
  if (action && typeof action === "object") return fieldsTable(action);
  return valueNode(action);
}

const ANSI_ESCAPES = /\u001b\[[0-9;?]*[ -\/]*[@-~]|\u001b\][^\u0007]*\u0007/g;

/* A rendered frame: text (ansi) in a <pre>, a height x width x 3|4 array (rgb_array) as an image. */
function frameNode(frame) {
  if (typeof frame === "string") return el("pre", { className: "frame" }, frame.replace(ANSI_ESCAPES, ""));
  if (frame && frame.dtype === "uint8" && Array.isArray(frame.shape)) frame = pixelsOf(frame);
  if (Array.isArray(frame) && Array.isArray(frame[0]) && Array.isArray(frame[0][0])) {
    return el("img", { className: "frame", alt: "rendered frame", src: imageUrl(frame) });
  }
  return null;
}

/* The nested pixel rows of an array frame sent as its shape, dtype and base64 bytes. */
function pixelsOf(frame) {
  const bytes = Uint8Array.from(atob(frame.data), (c) => c.charCodeAt(0));
  const [height, width, channels] = frame.shape.length === 3 ? frame.shape : [...frame.shape, 1];
  const rows = [];
  for (let y = 0; y < height; y++) {
    const row = [];
    for (let x = 0; x < width; x++) {
      const at = (y * width + x) * channels;
      const pixel = Array.from(bytes.subarray(at, at + channels));
      row.push(channels === 1 ? [pixel[0], pixel[0], pixel[0]] : pixel);
    }
    rows.push(row);
  }
  return rows;
}

function imageUrl(pixels) {
  const height = pixels.length;
  const width = pixels[0].length;
  const canvas = document.createElement("canvas");
  canvas.width = width;
  canvas.height = height;
  const context = canvas.getContext("2d");
  const image = context.createImageData(width, height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const pixel = pixels[y][x] || [];
      const at = 4 * (y * width + x);
      image.data[at] = pixel[0];
      image.data[at + 1] = pixel[1];
      image.data[at + 2] = pixel[2];
      image.data[at + 3] = pixel.length > 3 ? pixel[3] : 255;
    }
  }
  context.putImageData(image, 0, 0);
  return canvas.toDataURL("image/png");
}

function badge(text, kind) {
  return el("span", { className: "badge" + (kind ? " " + kind : "") }, text);
}

function replaceChildren(node, ...children) {
  node.replaceChildren(...children.flat().filter((child) => child !== null && child !== undefined));
}
