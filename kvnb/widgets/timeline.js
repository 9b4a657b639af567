// Timeline front end: one lane per key (natural order: k2 before k10), one column per revision (the axis is
// shared by every key, so each column holds exactly one mark). The picture arrives once as a snapshot, then as
// deltas: new marks, marks now gone, marks dropped.
// - The axis fits the box: few revisions spread over the whole width; many scroll sideways (zoom − fit +).
// - Only the columns in view (and a screen either side) are in the DOM: a 3,200-revision history draws a
//   few hundred marks, so the first picture and every update stay cheap; scrolling draws the rest.
// - Marks are placed by CSS variables (--col on a mark, --kvnb-col-w on the box), and widths are read only
//   from the ResizeObserver and scroll events, never right after inserting marks.

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

function gapHtml(first, last, col) {
  const text = first === last ? `revision ${first}` : `revisions ${first}–${last}`;
  return `<div class="kvnb-tl-gap" data-first="${first}" data-last="${last}" style="--col:${col}" ` +
    `title="${text} never seen: removed (superseded, purged or expired) before anyone read them"></div>`;
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
    let cols = []; // column -> {rev, row} (a mark) or {rev, gap: [first, last]}
    let marks = new Map(); // revision -> {row, col, el (when drawn)}
    let blanks = 0, selected = null, zoom = 0, labelSet = 0, colW = MIN_COL, lastFit = "";
    let drawn = [0, -1]; // the column range in the DOM
    let boxW = 0, charW = 0, following = true, frame = null, scrollX = 0, ownScroll = false;

    // --- widths: read from the ResizeObserver, scroll events, or while the tree is clean ---------------
    const measure = () => {
      boxW = scroller.clientWidth || boxW;
      if (!charW && root.isConnected) {
        const probe = h("span", { text: "0000000000", style: "position:absolute;visibility:hidden;white-space:pre" });
        root.append(probe);
        charW = probe.getBoundingClientRect().width / 10;
        probe.remove();
      }
    };
    const labelChars = () => Math.min(24, Math.max(8, ...keys.map((k) => k.length))) + 1;
    const labelW = () => labelChars() * (charW || 7.2);
    const fit = () => { // the column width: the box's width shared by the columns (within MIN_COL..MAX_COL)
      const chars = labelChars();
      if (chars !== labelSet) { lanesBox.style.setProperty("--kvnb-label-w", `${chars}ch`); labelSet = chars; }
      const avail = Math.max(100, (boxW || 600) - labelW() - 2 * PAD - 2);
      const base = cols.length ? Math.floor((avail / cols.length) * 100) / 100 : MAX_COL;
      colW = Math.max(MIN_COL, Math.min(MAX_COL, base * 2 ** zoom));
      // the box's width is a plain style of one element (a custom property would restyle every mark)
      lanesBox.style.width = `calc(${chars}ch + ${2 * PAD + Math.max(1, cols.length) * colW}px)`;
      if (`${colW}` === lastFit) return false;
      lastFit = `${colW}`;
      lanesBox.style.setProperty("--kvnb-col-w", `${colW}px`);
      return true;
    };
    const visibleCols = () => Math.ceil(Math.max(100, (boxW || 600) - labelW()) / colW) + 1;
    const wanted = () => { // the columns to draw: those in view and one screen either side
      const n = visibleCols();
      let first;
      if (following) first = cols.length - n;
      else first = Math.floor((scrollX - PAD) / colW);
      return [Math.max(0, first - n), Math.min(cols.length - 1, first + 2 * n)];
    };

    // --- drawing the window: each lane's marks as one HTML string ------------------------------------
    const tickStep = () => {
      const widest = String(cols.length ? cols[cols.length - 1].rev : 1).length * 7 + 10;
      return TICK_STEPS.find((s) => s * colW >= widest) || TICK_STEPS[TICK_STEPS.length - 1];
    };
    // Columns c0..c1 as HTML: the axis (ticks, gaps) and each lane's marks.
    const columnsHtml = (c0, c1, step) => {
      const perLane = keys.map(() => []);
      let axisHtml = "";
      for (let col = c0; col <= c1; col++) {
        const c = cols[col];
        if (c.gap) axisHtml += gapHtml(c.gap[0], c.gap[1], col);
        else if (c.row && marks.has(c.rev)) perLane[c.row[0]].push(c.row);
        if (col % step === 0) axisHtml += `<span class="kvnb-tl-tick" data-tick="${c.rev}" style="--col:${col}">${c.rev}</span>`;
      }
      return [axisHtml, perLane];
    };
    const putMarks = (laneIx, rows, where) => { // where: "replace" or "beforeend"
      const track = tracks[laneIx];
      const k = escHtml(keys[laneIx]);
      const html = rows.map((r) => markHtml(k, r, marks.get(r[1]).col)).join("");
      if (where === "replace") track.innerHTML = html; else track.insertAdjacentHTML("beforeend", html);
      let node = track.lastElementChild;
      for (let j = rows.length - 1; j >= 0; j--, node = node.previousElementSibling) {
        const m = marks.get(rows[j][1]);
        m.el = node; node._col = m.col;
      }
    };
    let drawnStep = 0;
    const draw = (force) => {
      const [c0, c1] = wanted();
      if (!force && c0 === drawn[0] && c1 === drawn[1]) return;
      const step = tickStep();
      if (!force && step === drawnStep && c0 >= drawn[0] && c0 <= drawn[1] + 1 && c1 >= drawn[1]) {
        // the window slid right (new revisions while following): drop columns on the left, add those on the right
        for (const node of [axis, ...tracks]) {
          let first = node.firstElementChild;
          while (first && (first._col ?? Number(first.style.getPropertyValue("--col"))) < c0) {
            const next = first.nextElementSibling;
            if (first.dataset.revision) { const m = marks.get(Number(first.dataset.revision)); if (m) m.el = null; }
            first.remove();
            first = next;
          }
        }
        if (c1 > drawn[1]) {
          const [axisHtml, perLane] = columnsHtml(drawn[1] + 1, c1, step);
          if (axisHtml) axis.insertAdjacentHTML("beforeend", axisHtml);
          perLane.forEach((rows, laneIx) => { if (rows.length) putMarks(laneIx, rows, "beforeend"); });
        }
        drawn = [c0, c1];
        return;
      }
      for (const m of marks.values()) m.el = null;
      const [axisHtml, perLane] = columnsHtml(c0, c1, step);
      axis.innerHTML = axisHtml;
      perLane.forEach((rows, laneIx) => {
        if (rows.length) putMarks(laneIx, rows, "replace");
        else if (tracks[laneIx].firstChild) tracks[laneIx].textContent = "";
      });
      drawn = [c0, c1];
      drawnStep = step;
      if (selected) {
        const m = marks.get(selected);
        if (m && m.el) m.el.classList.add("kvnb-selected");
      }
    };
    const redraw = () => { // fit, draw the window, follow the newest revisions: once a frame at most
      if (frame !== null) return;
      frame = requestAnimationFrame(() => {
        frame = null;
        const refit = fit();
        draw(refit);
        if (following) toEnd();
      });
    };

    // --- the picture: lanes (always all of them) and columns ----------------------------------------------
    const laneHtml = (label, cls) =>
      `<div class="kvnb-tl-lane ${cls}"><div class="kvnb-tl-label" title="${escHtml(label)}">${escHtml(label)}</div>` +
      `<div class="kvnb-tl-track"></div></div>`;
    const pushItems = (newMarks, newGaps) => { // new columns, in revision order, after the existing ones
      const items = newMarks.map((m) => [m[1], m, null]).concat(newGaps.map((g) => [g[0], null, g]));
      items.sort((a, b) => a[0] - b[0]);
      for (const [rev, row, gap] of items) {
        if (row) marks.set(rev, { row, col: cols.length, el: null });
        cols.push(row ? { rev, row } : { rev, gap });
      }
    };
    const build = (laneKeys, rows, gapRows) => {
      keys = laneKeys.slice();
      cols = []; marks = new Map(); blanks = 0; lastFit = ""; drawn = [0, -1];
      pushItems(rows, gapRows);
      const order = keys.map((_, i) => i).sort((a, b) => natCompare(keys[a], keys[b]));
      lanesBox.innerHTML = laneHtml("revision", "kvnb-tl-axis") + order.map((i) => laneHtml(keys[i], "")).join("");
      const laneEls = lanesBox.children;
      axis = laneEls[0].lastElementChild;
      tracks = [];
      order.forEach((laneIx, pos) => {
        const track = laneEls[pos + 1].lastElementChild;
        track._lane = laneIx;
        tracks[laneIx] = track;
      });
    };
    const addKey = (key) => { // a new lane, inserted at its place in natural order
      const laneIx = keys.length;
      keys.push(key);
      const tmp = document.createElement("div");
      tmp.innerHTML = laneHtml(key, "");
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
    const relayout = () => { // drop the blank columns left by marks the lanes no longer keep
      const rows = cols.filter((c) => c.row && marks.has(c.rev)).map((c) => marks.get(c.rev).row);
      const firstKept = rows.length ? rows[0][1] : Infinity;
      const gaps = cols.filter((c) => c.gap && c.gap[1] >= firstKept).map((c) => c.gap);
      build(keys, rows, gaps);
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
      const old = selected !== null ? marks.get(selected) : null;
      if (old && old.el) old.el.classList.remove("kvnb-selected");
      selected = m.row[1];
      m.el.classList.add("kvnb-selected");
      detail.textContent = markLines(keys[m.row[0]], m.row).join(" · ");
    });
    const rezoom = (z) => { zoom = z; lastFit = ""; redraw(); };
    zoomOut.addEventListener("click", () => rezoom(Math.max(-6, zoom - 1)));
    zoomIn.addEventListener("click", () => rezoom(Math.min(6, zoom + 1)));
    zoomFit.addEventListener("click", () => rezoom(0));
    // Following the end: set in the frame callback, where the layout is about to be done anyway.
    const toEnd = () => {
      ownScroll = true;
      scroller.scrollLeft = 1e9; // clamped to the end
      scrollX = scroller.scrollLeft;
    };
    scroller.addEventListener("scroll", () => {
      if (ownScroll) { ownScroll = false; return; } // our own follow-the-end scroll: no layout read (deltas may be in)
      scrollX = scroller.scrollLeft; // a reader's scroll: worth one layout read
      following = scrollX + scroller.clientWidth >= scroller.scrollWidth - 40;
      redraw();
    }, { passive: true });

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
    const resize = typeof ResizeObserver === "function" ? new ResizeObserver((entries) => {
      const w = entries.length ? entries[entries.length - 1].contentRect.width : 0;
      if (w) boxW = w;
      if (!charW) measure();
      redraw();
    }) : null;
    if (resize) resize.observe(scroller);
    const stop = kvnbStream(model,
      (data) => {
        selected = null;
        measure(); // before the marks go in: the tree is small and clean, the read is cheap
        build(data.keys, data.marks, data.gaps);
        following = true;
        fit();
        draw(true);
        showStatus(data.status);
        toEnd();
      },
      (data) => {
        for (const k of data.keys) addKey(k);
        let changed = data.marks.length + data.gaps.length;
        for (const rev of data.evicted) {
          const m = marks.get(rev);
          if (m) { if (m.el) m.el.remove(); marks.delete(rev); blanks += 1; }
        }
        for (const [rev, why] of data.gone) {
          const m = marks.get(rev);
          if (m && !m.row[5]) {
            m.row = m.row.slice(); m.row[5] = why;
            cols[m.col].row = m.row;
            if (m.el) { m.el.classList.add("kvnb-gone"); m.el.setAttribute("data-gone", why); }
          }
        }
        pushItems(data.marks, data.gaps);
        if (data.keys.length) drawn = [0, -1]; // new lanes: draw the window again
        if (blanks > 200 && blanks * 2 > cols.length) { relayout(); changed = 1; lastFit = ""; }
        if (changed) redraw();
        showStatus(data.status);
      }, "timeline");
    return () => { stop(); if (resize) resize.disconnect(); if (frame !== null) cancelAnimationFrame(frame); };
  },
};
