// Timeline front end: one lane per key (natural order: k2 before k10), one column per revision (the axis is
// shared by every key, so each column holds exactly one mark). The picture arrives once as a snapshot, then as
// deltas: new marks, marks now gone, marks dropped.
// - The axis fits the box: few revisions spread over the whole width; many scroll sideways (zoom − fit +).
// - Only the columns in view (and a screen either side) are in the DOM: a 3,200-revision history draws a
//   few hundred marks, so the first picture and every update stay cheap; scrolling draws the rest.
// - Marks are placed by CSS variables (--col on a mark, --kvnb-col-w on the box), and widths are read only
//   from the ResizeObserver and scroll events, never right after inserting marks.
// - The key labels are one column that sticks to the left edge, beside the marks: one sticky element, not
//   one per lane (400 sticky labels made every frame of a burst spend 100-280 ms compositing). The marks of
//   every lane share one box, placed by --col and --lane, in column order: a lane costs no element of its
//   own, and dropping the columns that scrolled out is removing the box's first children.

const MIN_COL = 16; // px: a mark (14 px) and a little air
const MAX_COL = 320; // px: wider columns only spread few marks out
const PAD = 10; // px before the first column and after the last (--kvnb-pad)
// Once the columns overflow the box, the box grows by this many columns at a time: a width that changed
// with every new revision made every lane lay out and repaint on every frame of a burst.
const GROW_COLS = 128;
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

function markHtml(key, row, col, lane) {
  const [, rev, letter, , , gone] = row;
  const op = LETTER_OP[letter] || letter;
  return `<div class="kvnb-mark ${OP_CLASS[op] || ""}${gone ? " kvnb-gone" : ""}" data-key="${key}" data-revision="${rev}"` +
    ` data-op="${op}"${gone ? ` data-gone="${gone}"` : ""} style="--col:${col};--lane:${lane}">${letter}</div>`;
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
    let laneAt = []; // lane index -> its row from the top (natural order of the keys)
    let axis = null, labelsCol = null, marksBox = null, endEl = null; // endEl: as wide as the columns (markEnd)
    let cols = []; // column -> {rev, row} (a mark) or {rev, gap: [first, last]}
    let marks = new Map(); // revision -> {row, col, el (when drawn)}
    let blanks = 0, selected = null, zoom = 0, labelSet = 0, colW = MIN_COL, lastFit = "", lastWidth = "";
    let drawn = [0, -1]; // the column range in the DOM
    let boxW = 0, charW = 0, labelPx = 0, following = true, frame = null, scrollX = 0;

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
    // the labels column's width as drawn (from the ResizeObserver), else as its CSS width computes
    const labelW = () => labelPx || labelChars() * (charW || 7.2);
    const fit = () => { // the column width: the box's width shared by the columns (within MIN_COL..MAX_COL)
      const chars = labelChars();
      if (chars !== labelSet) { lanesBox.style.setProperty("--kvnb-label-w", `${chars}ch`); labelSet = chars; }
      const avail = Math.max(100, (boxW || 600) - labelW() - 2 * PAD - 2);
      const base = cols.length ? Math.floor((avail / cols.length) * 100) / 100 : MAX_COL;
      colW = Math.max(MIN_COL, Math.min(MAX_COL, base * 2 ** zoom));
      // the box's width is a plain style of one element (a custom property would restyle every mark)
      const n = Math.max(1, cols.length);
      const room = n * colW <= avail + 1 ? n : Math.ceil((n + 1) / GROW_COLS) * GROW_COLS;
      const width = `calc(${chars}ch + ${2 * PAD + room * colW}px)`;
      if (width !== lastWidth) { lanesBox.style.width = width; lastWidth = width; }
      if (`${colW}` === lastFit) return false;
      lastFit = `${colW}`;
      lanesBox.style.setProperty("--kvnb-col-w", `${colW}px`);
      return true;
    };
    const contentEnd = () => labelW() + 2 * PAD + cols.length * colW; // px: the right edge of the last column
    const endX = () => Math.max(0, Math.round(contentEnd() - (boxW || 600))); // the scroll that shows it
    const visibleCols = () => Math.ceil(Math.max(100, (boxW || 600) - labelW()) / colW) + 1;
    const wanted = () => { // the columns to draw: those in view and one screen either side
      const n = visibleCols();
      // Following the newest: a quarter screen to the left is enough (a reader's scroll draws more), and
      // a burst that outruns the window then redraws half as many marks a frame.
      if (following) return [Math.max(0, cols.length - n - Math.ceil(n / 4)), cols.length - 1];
      const first = Math.floor((scrollX - PAD) / colW);
      return [Math.max(0, first - n), Math.min(cols.length - 1, first + 2 * n)];
    };

    // --- drawing the window: each lane's marks as one HTML string ------------------------------------
    const tickStep = () => {
      const widest = String(cols.length ? cols[cols.length - 1].rev : 1).length * 7 + 10;
      return TICK_STEPS.find((s) => s * colW >= widest) || TICK_STEPS[TICK_STEPS.length - 1];
    };
    // Columns c0..c1 as HTML: the axis (ticks, gaps), and the marks (in column order).
    const columnsHtml = (c0, c1, step) => {
      const rows = [];
      let axisHtml = "";
      for (let col = c0; col <= c1; col++) {
        const c = cols[col];
        if (c.gap) axisHtml += gapHtml(c.gap[0], c.gap[1], col);
        else if (c.row && marks.has(c.rev)) rows.push(c.row);
        if (col % step === 0) axisHtml += `<span class="kvnb-tl-tick" data-tick="${c.rev}" style="--col:${col}">${c.rev}</span>`;
      }
      return [axisHtml, rows];
    };
    const putMarks = (rows, where) => { // where: "replace" or "beforeend"
      const html = rows.map((r) => markHtml(escHtml(keys[r[0]]), r, marks.get(r[1]).col, laneAt[r[0]])).join("");
      if (where === "replace") marksBox.innerHTML = html; else marksBox.insertAdjacentHTML("beforeend", html);
      let node = marksBox.lastElementChild;
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
        for (const node of [axis, marksBox]) {
          let first = node.firstElementChild;
          while (first && (first._col ?? Number(first.style.getPropertyValue("--col"))) < c0) {
            const next = first.nextElementSibling;
            if (first.dataset.revision) { const m = marks.get(Number(first.dataset.revision)); if (m) m.el = null; }
            first.remove();
            first = next;
          }
        }
        if (c1 > drawn[1]) {
          const [axisHtml, rows] = columnsHtml(drawn[1] + 1, c1, step);
          if (axisHtml) axis.insertAdjacentHTML("beforeend", axisHtml);
          if (rows.length) putMarks(rows, "beforeend");
        }
        drawn = [c0, c1];
        return;
      }
      for (const m of marks.values()) m.el = null;
      const [axisHtml, rows] = columnsHtml(c0, c1, step);
      axis.innerHTML = axisHtml;
      putMarks(rows, "replace");
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
        draw(fit());
        if (following) markEnd();
      });
    };

    // --- the picture: lanes (always all of them) and columns ----------------------------------------------
    // A lane is a label in the labels column and a row of the marks box at the same height.
    const labelHtml = (label, cls) =>
      `<div class="kvnb-tl-label ${cls}" title="${escHtml(label)}">${escHtml(label)}</div>`;
    const setLanes = () => { marksBox.style.height = `${keys.length * 20}px`; }; // 20 px: a lane in kvnb.css
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
      cols = []; marks = new Map(); blanks = 0; lastFit = ""; lastWidth = ""; drawn = [0, -1];
      scrollX = -1; // unknown after a rebuild: the next toEnd writes it
      pushItems(rows, gapRows);
      const order = keys.map((_, i) => i).sort((a, b) => natCompare(keys[a], keys[b]));
      lanesBox.innerHTML =
        `<div class="kvnb-tl-labels">${labelHtml("revision", "kvnb-tl-axis")}${order.map((i) => labelHtml(keys[i], "")).join("")}</div>` +
        `<div class="kvnb-tl-tracks"><div class="kvnb-tl-track kvnb-tl-axis"></div><div class="kvnb-tl-marks"></div>` +
        `<div class="kvnb-tl-end"></div></div>`;
      if (resize && labelsCol) { resize.unobserve(labelsCol); resize.unobserve(endEl); }
      const [labels, tracksCol] = lanesBox.children;
      labelsCol = labels;
      [axis, marksBox, endEl] = tracksCol.children;
      if (resize) { resize.observe(labelsCol); resize.observe(endEl); }
      laneAt = [];
      order.forEach((laneIx, pos) => { laneAt[laneIx] = pos; });
      setLanes();
    };
    const addKey = (key) => { // a new lane, inserted at its place in natural order
      const laneIx = keys.length;
      keys.push(key);
      let pos = 0; // its row: after every key that sorts before it
      for (let other = 0; other < laneIx; other++) if (natCompare(keys[other], key) < 0) pos++;
      for (let other = 0; other < laneIx; other++) if (laneAt[other] >= pos) laneAt[other]++;
      laneAt[laneIx] = pos;
      const tmp = document.createElement("div");
      tmp.innerHTML = labelHtml(key, "");
      labelsCol.insertBefore(tmp.firstElementChild, labelsCol.children[pos + 1] || null); // row 0: the axis
      setLanes(); // the marks below it move down a row: the caller draws the window again
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
    // Following the end. Writing scrollLeft lays the page out first, so in a frame callback it would cost a
    // layout of its own (15-25 ms in a burst). The frame callback only sets the end marker's width; the
    // ResizeObserver reports it after the frame's layout, and the scroll written there finds the layout done.
    const markEnd = () => {
      const w = `${Math.round(cols.length * colW)}px`;
      if (resize && endEl && endEl.style.width !== w) endEl.style.width = w; else if (Math.abs(endX() - scrollX) >= 1) toEnd();
    };
    // The position is computed, not read, before the write. It is read back after it: the write has laid the
    // page out already, so the read is free, and a write the browser clamped (a box not yet grown to the
    // newest columns) is then written again next time, not taken as done.
    const toEnd = () => {
      const x = endX();
      if (Math.abs(x - scrollX) < 1) return;
      scroller.scrollLeft = x;
      scrollX = scroller.scrollLeft;
      ownScrollAt = performance.now();
    };
    // Only a reader's scroll (wheel, scrollbar, keys, touch) decides whether the view follows the newest
    // revisions; a scroll the page's layout causes (a theme being swapped, say) does not stop following.
    let readerAt = -1e9, ownScrollAt = -1e9;
    for (const type of ["wheel", "pointerdown", "keydown", "touchstart"]) {
      scroller.addEventListener(type, () => { readerAt = performance.now(); }, { passive: true });
    }
    // The page moved the view while it follows (a theme swap resets or clamps the scroll while the layout
    // settles): put it back at the end for a few frames, reading the position only then.
    const settleEnd = (frames) => requestAnimationFrame(() => {
      if (!following) return;
      const x = endX();
      if (Math.abs(scroller.scrollLeft - x) >= 1) scroller.scrollLeft = x;
      scrollX = scroller.scrollLeft; // clamped if this frame's columns are not drawn yet: see toEnd
      if (frames > 1) settleEnd(frames - 1);
    });
    scroller.addEventListener("scroll", () => {
      const reader = performance.now() - readerAt < 1500;
      // the event of toEnd's own scroll (in a burst, every frame): not worth a read, which would lay out
      // whatever the burst changed a second time in the frame
      if (!reader && performance.now() - ownScrollAt < 100) return;
      const x = scroller.scrollLeft;
      if (Math.abs(x - scrollX) < 1) return; // where toEnd put it
      scrollX = x;
      if (reader) following = scrollX + scroller.clientWidth >= contentEnd() - 40;
      else if (following) settleEnd(10);
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

    const resize = typeof ResizeObserver === "function" ? new ResizeObserver((entries) => {
      let boxChanged = false, others = false;
      for (const e of entries) {
        if (e.target === endEl) continue;
        others = true;
        const w = e.contentRect.width;
        if (e.target === scroller && w && w !== boxW) { boxW = w; boxChanged = true; }
        if (e.target === labelsCol) labelPx = e.borderBoxSize?.[0]?.inlineSize || w;
      }
      if (following && entries.some((e) => e.target === endEl)) toEnd(); // the layout is done here: see markEnd
      if (!others) return;
      if (!charW) measure();
      if (boxChanged) settleEnd(10); // first in the next frame: its read comes before the marks are drawn
      redraw();
    }) : null;
    if (resize) resize.observe(scroller);
    build([], [], []);
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
        // a few new keys are inserted in place; many (a burst on new keys) rebuild the lanes once, below
        const manyKeys = data.keys.length > 8;
        if (manyKeys) keys.push(...data.keys); else for (const k of data.keys) addKey(k);
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
        if (manyKeys || (blanks > 200 && blanks * 2 > cols.length)) { relayout(); changed = 1; lastFit = ""; }
        if (changed) redraw();
        showStatus(data.status);
      }, "timeline");
    return () => { stop(); if (resize) resize.disconnect(); if (frame !== null) cancelAnimationFrame(frame); };
  },
};
