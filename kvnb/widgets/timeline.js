// Timeline front end: one lane per key, one column per revision (the axis is shared by every key).
// The picture arrives once as a snapshot, then as deltas: new marks, marks now gone, marks dropped.

const COL_W = 13; // px per revision column; wider while few columns, so each can carry its number
const FEW_COLS = 20; // up to this many columns every one is labelled; beyond, every 5th, then every 10th
const labelWidth = (rev) => String(rev).length * 7 + 6; // px of an axis number at the tick's 11px font
const tickEvery = (ncols) => (ncols <= FEW_COLS ? 1 : ncols <= 100 ? 5 : 10);
const GONE_TEXT = { history: "gone: the bucket's history depth dropped it", purge: "gone: removed by a later purge" };

function markTitle(key, m) {
  const [, rev, letter, value, created, delta, gone] = m;
  const op = LETTER_OP[letter] || letter;
  const lines = [`${key} · revision ${rev} · ${op}`];
  if (op === "PUT") lines.push(`value: ${JSON.stringify(value)}`);
  if (delta !== null && delta !== undefined) lines.push(`delta: ${delta}`);
  if (created) lines.push(`created: ${timeText(created)}`);
  if (gone) lines.push(GONE_TEXT[gone] || "gone");
  return lines.join("\n");
}

export default {
  render({ model, el }) {
    const root = kvnbRoot(el, "timeline");
    const status = h("span", { class: "kvnb-status", text: "connecting…" });
    const detail = h("div", { class: "kvnb-detail kvnb-status", text: "click a mark to see its value, delta and time" });
    const lanesBox = h("div", { class: "kvnb-tl-lanes" });
    const scroller = h("div", { class: "kvnb-tl-scroll" }, lanesBox);
    const legend = h("div", { class: "kvnb-legend" },
      h("span", {}, h("span", { class: "kvnb-mark kvnb-op-put", text: "P" }), " put"),
      h("span", {}, h("span", { class: "kvnb-mark kvnb-op-del", text: "D" }), " delete"),
      h("span", {}, h("span", { class: "kvnb-mark kvnb-op-purge", text: "X" }), " purge"),
      h("span", {}, h("span", { class: "kvnb-mark kvnb-op-put kvnb-gone", text: "P" }), " gone (history dropped it)"),
      h("span", {}, h("span", { class: "kvnb-tl-gap" }), " revisions never delivered"),
      h("span", { text: "x = bucket revision, one counter shared by all keys" }));
    root.append(
      h("div", { class: "kvnb-head" },
        h("span", { class: "kvnb-title", text: `timeline of ${model.get("pattern")} on ${model.get("bucket")}` }), status),
      legend, errorLine(model), scroller, detail);

    let keys = [], tracks = [], axis = null, ncols = 0, blanks = 0, selected = null;
    let marks = new Map(); // revision -> {el, row}
    let gaps = []; // [first, last, el]
    let colW = COL_W, colRevs = [], tickStep = 0, ticked = 0; // column width; revision of each column; axis labels

    const setWidth = () => { lanesBox.style.setProperty("--kvnb-tl-cols", ncols); for (const t of [axis, ...tracks]) if (t) t.style.width = `${Math.max(1, ncols) * colW}px`; };
    const lane = (label, cls) => {
      const track = h("div", { class: "kvnb-tl-track" });
      lanesBox.append(h("div", { class: `kvnb-tl-lane ${cls || ""}` }, h("div", { class: "kvnb-tl-label", title: label, text: label }), track));
      return track;
    };
    const reset = () => {
      lanesBox.replaceChildren();
      keys = []; tracks = []; ncols = 0; blanks = 0; marks = new Map(); gaps = [];
      colRevs = []; tickStep = 0; ticked = 0;
      axis = lane("revision →", "kvnb-tl-axis");
    };
    const addKey = (key) => { keys.push(key); tracks.push(lane(key)); };
    const left = (col) => col * colW + (colW - COL_W) / 2; // a mark sits in the middle of its column
    const ticks = () => { // label every column while few, else every 5th / 10th; relabel when the step changes
      const step = tickEvery(ncols);
      if (step !== tickStep) {
        for (const t of axis.querySelectorAll(".kvnb-tl-tick")) t.remove();
        tickStep = step; ticked = 0;
      }
      for (let col = Math.ceil(ticked / step) * step; col < ncols; col += step) {
        const w = labelWidth(colRevs[col]);
        axis.append(h("span", { class: "kvnb-tl-tick", "data-tick": colRevs[col], text: colRevs[col],
          style: `left:${Math.max(0, left(col) + (COL_W - 1) / 2 - w / 2)}px;width:${w}px` }));
      }
      ticked = ncols;
    };
    const addMark = (m) => {
      const [laneIx, rev, letter, , , , gone] = m;
      const op = LETTER_OP[letter] || letter;
      // built by hand, not with h(): a snapshot makes thousands of these
      const node = document.createElement("div");
      node.className = `kvnb-mark ${OP_CLASS[op] || ""}${gone ? " kvnb-gone" : ""}`;
      node.dataset.key = keys[laneIx];
      node.dataset.revision = rev;
      node.dataset.op = op;
      if (gone) node.dataset.gone = gone;
      node.style.left = `${left(ncols)}px`;
      node.textContent = letter;
      tracks[laneIx].append(node);
      colRevs.push(rev);
      marks.set(rev, { el: node, row: m });
      ncols += 1;
    };
    // one listener for every mark: details on hover (title) and on click (the detail line)
    const markOf = (ev) => {
      const node = ev.target.closest ? ev.target.closest(".kvnb-mark[data-revision]") : null;
      const m = node ? marks.get(Number(node.dataset.revision)) : null;
      return m && m.el === node ? m : null;
    };
    lanesBox.addEventListener("mouseover", (ev) => {
      const m = markOf(ev);
      if (m) m.el.title = markTitle(keys[m.row[0]], m.row);
    });
    lanesBox.addEventListener("click", (ev) => {
      const m = markOf(ev);
      if (!m) return;
      if (selected) selected.classList.remove("kvnb-selected");
      selected = m.el;
      m.el.classList.add("kvnb-selected");
      detail.textContent = markTitle(keys[m.row[0]], m.row).replace(/\n/g, " · ");
    });
    const addGap = (g) => {
      const [first, last] = g;
      const text = first === last ? `revision ${first}` : `revisions ${first}–${last}`;
      const node = h("div", { class: "kvnb-tl-gap", "data-first": first, "data-last": last, style: `left:${left(ncols)}px`,
        title: `${text} never delivered: removed (superseded, purged or expired) before anyone read them` });
      axis.append(node);
      colRevs.push(first);
      gaps.push([first, last]);
      ncols += 1;
    };
    const addItems = (newMarks, newGaps) => {
      const items = newMarks.map((m) => [m[1], m, null]).concat(newGaps.map((g) => [g[0], null, g]));
      items.sort((a, b) => a[0] - b[0]);
      for (const [, m, g] of items) { if (m) addMark(m); else addGap(g); }
    };
    const relayout = (dropOldGaps = true) => { // drop blank columns left by marks the lanes no longer keep
      const oldKeys = keys, rows = [...marks.values()].map((x) => x.row);
      const firstKept = rows.length ? Math.min(...rows.map((r) => r[1])) : Infinity;
      const keptGaps = dropOldGaps ? gaps.filter((g) => g[1] >= firstKept) : gaps;
      reset();
      for (const k of oldKeys) addKey(k);
      addItems(rows, keptGaps);
    };
    // Few columns: wide enough for every column's number (the newest is the longest); many: narrow.
    const wantWidth = () => (ncols > FEW_COLS || !ncols ? COL_W : Math.max(COL_W, labelWidth(colRevs[ncols - 1]) + 2));
    const fit = () => {
      for (let i = 0; i < 2 && wantWidth() !== colW; i++) { colW = wantWidth(); relayout(false); }
      ticks();
      setWidth();
    };
    const atEnd = () => scroller.scrollLeft + scroller.clientWidth >= scroller.scrollWidth - 3 * colW;
    const showStatus = (s) => {
      if (!s) return;
      const parts = [`${s.keys} keys`, `${s.events} revisions seen`, `last revision ${s.last_revision}`];
      if (s.history) parts.push(`history keeps ${s.history} per key`);
      if (s.gone) parts.push(`${s.gone} gone`);
      if (s.gap_revisions) parts.push(`${s.gap_revisions} never delivered`);
      if (s.hidden_keys) parts.push(`${s.hidden_keys} more keys not shown`);
      status.textContent = parts.join(" · ");
    };

    reset();
    const stop = kvnbStream(model,
      (data) => {
        reset();
        lanesBox.remove(); // build off-document, attach once
        for (const k of data.keys) addKey(k);
        addItems(data.marks, data.gaps);
        fit();
        scroller.append(lanesBox);
        showStatus(data.status);
        scroller.scrollLeft = scroller.scrollWidth;
      },
      (data) => {
        const follow = atEnd();
        for (const k of data.keys) addKey(k);
        for (const rev of data.evicted) {
          const m = marks.get(rev);
          if (m) { m.el.remove(); marks.delete(rev); blanks += 1; }
        }
        for (const [rev, why] of data.gone) {
          const m = marks.get(rev);
          if (m && !m.row[6]) {
            m.row = m.row.slice(); m.row[6] = why;
            m.el.classList.add("kvnb-gone"); m.el.setAttribute("data-gone", why);
          }
        }
        addItems(data.marks, data.gaps);
        if (blanks > 200 && blanks * 2 > ncols) relayout();
        fit();
        showStatus(data.status);
        if (follow) scroller.scrollLeft = scroller.scrollWidth;
      });
    return stop;
  },
};
