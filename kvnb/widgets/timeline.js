// Timeline front end: one lane per key (natural order: k2 before k10), one column per revision (the axis is
// shared by every key). The picture arrives once as a snapshot, then as deltas: new marks, marks now gone,
// marks dropped. Marks are positioned by CSS variables (--col per mark, --kvnb-col-w on the box), so fitting
// the axis to the box, zooming or resizing changes two variables, not thousands of nodes; a snapshot is built
// as one HTML string.

const MIN_COL = 16; // px: a mark (14 px) and a little air
const MAX_COL = 320; // px: wider columns only spread few marks out
const PAD = 10; // px before the first column and after the last (--kvnb-pad)
const TICK_STEPS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000];
const GONE_TEXT = {
  history: "no longer kept: the bucket keeps only the newest revisions of each key (its history depth)",
  purge: "no longer kept: a later purge of this key removed it",
  removed: "no longer kept: the server removed it (purge_deletes, expired by age, or a smaller history)",
};
const OP_TEXT = {
  PUT: "put: the key got a new value",
  DEL: "delete: a delete marker (the key reads as deleted; older values stay in history)",
  PURGE: "purge: a purge marker (every older revision of this key was removed)",
};

function escHtml(s) {
  return String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c]));
}

function markLines(key, row) {
  const [, rev, letter, value, created, gone] = row;
  const op = LETTER_OP[letter] || letter;
  const lines = [`key ${key}, revision ${rev}`, OP_TEXT[op] || op];
  if (op === "PUT") lines.push(`value: ${value}`);
  if (created) lines.push(`written ${timeText(created)} (${ageText(created)}${ageText(created) === "now" ? "" : " ago"})`);
  if (gone) lines.push(GONE_TEXT[gone] || "no longer kept");
  return lines;
}

function markHtml(key, row, col) {
  const [, rev, letter, , , gone] = row;
  const op = LETTER_OP[letter] || letter;
  return `<div class="kvnb-mark ${OP_CLASS[op] || ""}${gone ? " kvnb-gone" : ""}" data-key="${key}" data-revision="${rev}"` +
    ` data-op="${op}"${gone ? ` data-gone="${gone}"` : ""} style="--col:${col}">${letter}</div>`;
}

export default {
  render({ model, el }) {
    const root = kvnbRoot(el, "timeline");
    const status = h("span", { class: "kvnb-status", text: "connecting…" });
    const zoomOut = h("button", { class: "kvnb-zoom-out", text: "−", title: "zoom out (narrower columns)" });
    const zoomFit = h("button", { class: "kvnb-zoom-fit", text: "fit", title: "fit the revisions to the box" });
    const zoomIn = h("button", { class: "kvnb-zoom-in", text: "+", title: "zoom in (wider columns)" });
    const detail = h("div", { class: "kvnb-detail", text: "Point at a mark for its details, or click it to keep them here." });
    const lanesBox = h("div", { class: "kvnb-tl-lanes" });
    const scroller = h("div", { class: "kvnb-tl-scroll" }, lanesBox);
    const legend = h("div", { class: "kvnb-legend" },
      h("span", {}, h("span", { class: "kvnb-mark kvnb-op-put", text: "P" }), " put"),
      h("span", {}, h("span", { class: "kvnb-mark kvnb-op-del", text: "D" }), " delete"),
      h("span", {}, h("span", { class: "kvnb-mark kvnb-op-purge", text: "X" }), " purge"),
      h("span", {}, h("span", { class: "kvnb-mark kvnb-op-put kvnb-gone", text: "P" }), " no longer kept by the bucket"),
      h("span", {}, h("span", { class: "kvnb-tl-gap" }), " revisions never seen"),
      h("span", { text: "revision: the bucket's write counter, shared by all keys" }),
      h("span", { class: "kvnb-spacer" }),
      h("span", { class: "kvnb-zoom" }, "zoom ", zoomOut, zoomFit, zoomIn));
    root.append(
      h("div", { class: "kvnb-head" },
        h("span", { class: "kvnb-title", text: `timeline of ${model.get("pattern")} on ${model.get("bucket")}` }), status),
      legend, errorLine(model), scroller, detail);

    let keys = []; // lane index -> key
    let tracks = []; // lane index -> track element
    let axis = null;
    let ncols = 0, blanks = 0, selected = null, zoom = 0, lastFit = "", labelSet = 0;
    let colRevs = []; // column -> revision (a gap column: its first revision)
    let marks = new Map(); // revision -> {el, row}
    let gaps = []; // [first, last]

    // --- layout: two CSS variables on the box, the ticks rebuilt in one go ---------------------------
    const labelChars = () => Math.min(24, Math.max(8, ...keys.map((k) => k.length))) + 1;
    const fit = () => {
      const chars = labelChars();
      if (chars !== labelSet) { lanesBox.style.setProperty("--kvnb-label-w", `${chars}ch`); labelSet = chars; }
      const label = lanesBox.querySelector(".kvnb-tl-label");
      const labelW = label ? label.offsetWidth : chars * 7.5;
      const avail = Math.max(100, scroller.clientWidth - labelW - 2 * PAD - 2);
      const base = ncols ? Math.floor((avail / ncols) * 100) / 100 : MAX_COL;
      const colW = Math.max(MIN_COL, Math.min(MAX_COL, base * 2 ** zoom));
      const key = `${colW.toFixed(2)}|${ncols}`;
      if (key === lastFit) return;
      lastFit = key;
      lanesBox.style.setProperty("--kvnb-col-w", `${colW}px`);
      lanesBox.style.setProperty("--kvnb-cols", Math.max(1, ncols));
      // axis numbers: every column when they fit, else every 2nd, 5th, 10th ... column
      const widest = String(colRevs.length ? colRevs[colRevs.length - 1] : 1).length * 7 + 10;
      const step = TICK_STEPS.find((s) => s * colW >= widest) || TICK_STEPS[TICK_STEPS.length - 1];
      let html = "";
      for (let col = 0; col < ncols; col += step) {
        if (colRevs[col] === undefined) continue;
        html += `<span class="kvnb-tl-tick" data-tick="${colRevs[col]}" style="--col:${col}">${colRevs[col]}</span>`;
      }
      for (const t of axis.querySelectorAll(".kvnb-tl-tick")) t.remove();
      axis.insertAdjacentHTML("beforeend", html);
    };
    const atEnd = () => scroller.scrollLeft + scroller.clientWidth >= scroller.scrollWidth - 40;

    // --- lanes in natural key order -------------------------------------------------------------------
    const laneHtml = (label, cls, inner) =>
      `<div class="kvnb-tl-lane ${cls}"><div class="kvnb-tl-label" title="${escHtml(label)}">${escHtml(label)}</div>` +
      `<div class="kvnb-tl-track">${inner}</div></div>`;
    const order = (ixs) => ixs.sort((a, b) => natCompare(keys[a], keys[b]));

    // Build everything from rows (a snapshot, or a relayout): one HTML string, one parse.
    const build = (laneKeys, rows, gapRows) => {
      keys = laneKeys.slice();
      marks = new Map(); gaps = []; colRevs = []; ncols = 0; blanks = 0; lastFit = "";
      const items = rows.map((r) => [r[1], r, null]).concat(gapRows.map((g) => [g[0], null, g]));
      items.sort((a, b) => a[0] - b[0]);
      const perLane = keys.map(() => []);
      let axisHtml = "";
      for (const [, r, g] of items) {
        if (r) {
          perLane[r[0]].push([r, ncols]);
          marks.set(r[1], { el: null, row: r });
          colRevs.push(r[1]);
        } else {
          const [first, last] = g;
          const text = first === last ? `revision ${first}` : `revisions ${first}–${last}`;
          axisHtml += `<div class="kvnb-tl-gap" data-first="${first}" data-last="${last}" style="--col:${ncols}" ` +
            `title="${text} never seen: removed (superseded, purged or expired) before anyone read them"></div>`;
          gaps.push([first, last]);
          colRevs.push(first);
        }
        ncols += 1;
      }
      const ix = order(keys.map((_, i) => i));
      let html = laneHtml("revision", "kvnb-tl-axis", axisHtml);
      for (const i of ix) {
        const k = escHtml(keys[i]);
        html += laneHtml(keys[i], "", perLane[i].map(([r, col]) => markHtml(k, r, col)).join(""));
      }
      lanesBox.innerHTML = html;
      const laneEls = lanesBox.children;
      axis = laneEls[0].lastElementChild;
      tracks = [];
      ix.forEach((laneIx, pos) => {
        const track = laneEls[pos + 1].lastElementChild;
        track._lane = laneIx;
        tracks[laneIx] = track;
        const kids = track.children;
        perLane[laneIx].forEach(([r], j) => { marks.get(r[1]).el = kids[j]; });
      });
    };

    const addKey = (key) => { // a new lane, inserted at its place in natural order
      const laneIx = keys.length;
      keys.push(key);
      const tmp = document.createElement("div");
      tmp.innerHTML = laneHtml(key, "", "");
      const laneEl = tmp.firstElementChild;
      let before = null;
      for (const other of lanesBox.children) {
        const t = other.lastElementChild;
        if (t !== axis && natCompare(key, keys[t._lane]) < 0) { before = other; break; }
      }
      lanesBox.insertBefore(laneEl, before);
      const track = laneEl.lastElementChild;
      track._lane = laneIx;
      tracks[laneIx] = track;
    };
    const addItems = (newMarks, newGaps) => {
      const items = newMarks.map((m) => [m[1], m, null]).concat(newGaps.map((g) => [g[0], null, g]));
      items.sort((a, b) => a[0] - b[0]);
      const perLane = new Map();
      let axisHtml = "";
      for (const [, r, g] of items) {
        if (r) {
          if (!perLane.has(r[0])) perLane.set(r[0], []);
          perLane.get(r[0]).push([r, ncols]);
          marks.set(r[1], { el: null, row: r });
          colRevs.push(r[1]);
        } else {
          const [first, last] = g;
          const text = first === last ? `revision ${first}` : `revisions ${first}–${last}`;
          axisHtml += `<div class="kvnb-tl-gap" data-first="${first}" data-last="${last}" style="--col:${ncols}" ` +
            `title="${text} never seen: removed (superseded, purged or expired) before anyone read them"></div>`;
          gaps.push([first, last]);
          colRevs.push(first);
        }
        ncols += 1;
      }
      if (axisHtml) axis.insertAdjacentHTML("beforeend", axisHtml);
      for (const [laneIx, list] of perLane) {
        const track = tracks[laneIx];
        const k = escHtml(keys[laneIx]);
        track.insertAdjacentHTML("beforeend", list.map(([r, col]) => markHtml(k, r, col)).join(""));
        let node = track.lastElementChild;
        for (let j = list.length - 1; j >= 0; j--, node = node.previousElementSibling) marks.get(list[j][0][1]).el = node;
      }
    };
    const relayout = () => { // drop blank columns left by marks the lanes no longer keep
      const rows = [...marks.values()].map((x) => x.row);
      const firstKept = rows.length ? Math.min(...rows.map((r) => r[1])) : Infinity;
      const follow = atEnd();
      build(keys, rows, gaps.filter((g) => g[1] >= firstKept));
      fit();
      if (follow) scroller.scrollLeft = scroller.scrollWidth;
    };

    // --- details: hover title, click to keep them in the detail line --------------------------------------
    const markOf = (ev) => {
      const node = ev.target.closest ? ev.target.closest(".kvnb-mark[data-revision]") : null;
      const m = node ? marks.get(Number(node.dataset.revision)) : null;
      return m && m.el === node ? m : null;
    };
    lanesBox.addEventListener("mouseover", (ev) => {
      const m = markOf(ev);
      if (m) m.el.title = markLines(keys[m.row[0]], m.row).join("\n");
    });
    lanesBox.addEventListener("click", (ev) => {
      const m = markOf(ev);
      if (!m) return;
      if (selected) selected.classList.remove("kvnb-selected");
      selected = m.el;
      m.el.classList.add("kvnb-selected");
      detail.textContent = markLines(keys[m.row[0]], m.row).join(" · ");
    });
    const rezoom = (z) => { zoom = z; lastFit = ""; fit(); };
    zoomOut.addEventListener("click", () => rezoom(Math.max(-6, zoom - 1)));
    zoomIn.addEventListener("click", () => rezoom(Math.min(6, zoom + 1)));
    zoomFit.addEventListener("click", () => rezoom(0));

    const showStatus = (s) => {
      if (!s) return;
      const parts = [`${s.keys} key${s.keys === 1 ? "" : "s"}`, `${s.events} revisions seen`, `last revision ${s.last_revision}`];
      if (s.history) parts.push(`keeps ${s.history} revision${s.history === 1 ? "" : "s"} per key`);
      if (s.gone) parts.push(`${s.gone} no longer kept`);
      if (s.gap_revisions) parts.push(`${s.gap_revisions} never seen`);
      if (s.hidden_keys) parts.push(`${s.hidden_keys} more keys not shown`);
      status.textContent = parts.join(" · ");
    };

    build([], [], []);
    const resize = typeof ResizeObserver === "function" ? new ResizeObserver(() => fit()) : null;
    if (resize) resize.observe(scroller);
    const stop = kvnbStream(model,
      (data) => {
        selected = null;
        build(data.keys, data.marks, data.gaps);
        fit();
        showStatus(data.status);
        scroller.scrollLeft = scroller.scrollWidth;
      },
      (data) => {
        const follow = atEnd();
        for (const k of data.keys) addKey(k);
        for (const rev of data.evicted) {
          const m = marks.get(rev);
          if (m) { if (m.el) m.el.remove(); marks.delete(rev); blanks += 1; }
        }
        for (const [rev, why] of data.gone) {
          const m = marks.get(rev);
          if (m && !m.row[5]) {
            m.row = m.row.slice(); m.row[5] = why;
            if (m.el) { m.el.classList.add("kvnb-gone"); m.el.setAttribute("data-gone", why); }
          }
        }
        addItems(data.marks, data.gaps);
        if (blanks > 200 && blanks * 2 > ncols) relayout();
        else fit();
        showStatus(data.status);
        if (follow) scroller.scrollLeft = scroller.scrollWidth;
      }, "timeline");
    return () => { stop(); if (resize) resize.disconnect(); };
  },
};
