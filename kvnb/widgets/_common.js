// kvnb widgets: helpers shared by every widget's front end (prepended to each widget's module).

const OP_CLASS = { PUT: "kvnb-op-put", DEL: "kvnb-op-del", PURGE: "kvnb-op-purge" };
const LETTER_OP = { P: "PUT", D: "DEL", X: "PURGE" };
const OP_LETTER = { PUT: "P", DEL: "D", PURGE: "X" };

// h("div", {class: "a b", "data-key": "k", text: "hi", title: "..."}, child, ...)
function h(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "text") node.textContent = String(value);
    else if (name === "class") node.className = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

// Keys pressed inside a widget are the widget's: they never reach JupyterLab's shortcuts (ArrowLeft would
// collapse a heading, "d d" delete a cell). Their default actions (a slider moving, text typed) still happen.
function kvnbRoot(el, kind) {
  // kvnb-live scopes kvnb.css to live views: a static picture (text/html) on the same page keeps its inline styles
  const root = h("div", { class: `kvnb-widget kvnb-${kind} kvnb-live` });
  for (const type of ["keydown", "keypress", "keyup"]) root.addEventListener(type, (ev) => ev.stopPropagation());
  el.replaceChildren(root);
  return root;
}

// Natural order of key names, the same as kvnb.model.natural_key: k2 before k10, sensor.9 before sensor.10.
const NAT_CHUNKS = /(\d+)/;
function natCompare(a, b) {
  const x = String(a).split(NAT_CHUNKS), y = String(b).split(NAT_CHUNKS);
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    if (x[i] === y[i]) continue;
    if (i % 2) { // digits
      const d = Number(x[i]) - Number(y[i]);
      if (d) return d < 0 ? -1 : 1;
      continue;
    }
    return x[i] < y[i] ? -1 : 1;
  }
  return x.length - y.length;
}

function opBadge(op) {
  return h("span", { class: `kvnb-op ${OP_CLASS[op] || ""}`, title: op, text: OP_LETTER[op] || "?" });
}

function ageText(ms) {
  if (ms === null || ms === undefined) return "";
  const s = Math.max(0, (Date.now() - ms) / 1000);
  if (s < 1) return "now";
  if (s < 60) return `${Math.floor(s)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  if (s < 86400) return `${Math.floor(s / 3600)} h`;
  return `${Math.floor(s / 86400)} d`;
}

// An age cell (data-t: epoch ms, or "") brought up to now; written only when its text changes.
function tickAge(cell) {
  const age = ageText(cell.dataset.t === "" ? null : Number(cell.dataset.t));
  if (cell.textContent !== age) cell.textContent = age;
}

function timeText(ms) {
  return ms === null || ms === undefined ? "" : new Date(ms).toISOString().replace("T", " ").replace("Z", " UTC");
}

// The error line: shows the widget's `error` trait (server errors never become tracebacks).
function errorLine(model) {
  const line = h("div", { class: "kvnb-error" });
  const update = () => { line.textContent = model.get("error") || ""; };
  model.on("change:error", update);
  update();
  return line;
}

// How long a snapshot took from its message to the screen: a Performance API measure named
// "kvnb:<kind>:snapshot-drawn" (message received -> the frame after it was painted), which the browser bench reads;
// "kvnb:<kind>:snapshot-built" is the part spent building the DOM.
function measureDrawn(kind, start) {
  if (typeof performance === "undefined" || !performance.measure) return;
  try { performance.measure(`kvnb:${kind}:snapshot-built`, { start, end: performance.now() }); } catch (e) { /* old browser */ }
  requestAnimationFrame(() => setTimeout(() => {
    try { performance.measure(`kvnb:${kind}:snapshot-drawn`, { start, end: performance.now() }); } catch (e) { /* old browser */ }
  }, 0));
}

// Snapshot + delta protocol: the kernel sends {type: "snapshot"|"delta", seq, data}. A view asks for
// a snapshot when it starts ("hello") and again if it ever misses a delta, so deltas stay small.
function kvnbStream(model, onSnapshot, onDelta, kind = "widget") {
  let seq = -1;
  let pending = [];
  const handler = (msg) => {
    if (!msg || typeof msg !== "object") return;
    if (msg.type === "snapshot") {
      const start = performance.now();
      seq = msg.seq;
      onSnapshot(msg.data);
      measureDrawn(kind, start);
      for (const m of pending.sort((a, b) => a.seq - b.seq)) {
        if (m.seq === seq + 1) { seq = m.seq; onDelta(m.data); }
      }
      pending = [];
    } else if (msg.type === "delta") {
      if (seq < 0) {
        pending.push(msg);
        if (pending.length > 100) pending.shift();
        return;
      }
      if (msg.seq <= seq) return;
      if (msg.seq !== seq + 1) {
        seq = -1;
        pending = [msg];
        model.send({ type: "hello" });
        return;
      }
      seq = msg.seq;
      onDelta(msg.data);
    }
  };
  model.on("msg:custom", handler);
  model.send({ type: "hello" });
  return () => model.off("msg:custom", handler);
}

function action(model, name, extra) {
  model.send(Object.assign({ type: "action", name }, extra || {}));
}
