// BucketTable front end: the rows trait (natural key order: k2 before k10), ages ticking in the browser.
// Only the rows in and near the table's scroll box are in the DOM (a window of about three boxes' worth);
// the rows above and below it are two spacers as tall as the rows they stand for. A 400-key table under a
// burst then styles, lays out and paints some 60 rows a redraw, not 400, and scrolling draws the rest.
// Rows can wrap (long values), so a row's height is the average of the drawn ones (a ResizeObserver).

function escText(s) {
  return String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c]));
}

function rowValue(r) {
  return r.deleted ? `(${r.op === "DEL" ? "deleted" : "purged"} at revision ${r.rev})` : (r.shown !== undefined ? r.shown : r.value);
}

function rowTitle(r) {
  return `key ${r.key}, revision ${r.rev}` + (r.t ? `, written ${timeText(r.t)}` : "");
}

function tableRow(r) {
  const key = escText(r.key);
  return `<tr class="kvnb-row${r.deleted ? " kvnb-deleted" : ""}" data-key="${key}" data-revision="${r.rev}" data-op="${r.op}">` +
    `<td class="kvnb-op-col"><span class="kvnb-op ${OP_CLASS[r.op] || ""}" title="${r.op}">${OP_LETTER[r.op] || "?"}</span></td>` +
    `<td class="kvnb-key">${key}</td><td class="kvnb-val">${escText(rowValue(r))}</td><td class="kvnb-num">${r.rev}</td>` +
    `<td class="kvnb-age kvnb-num" data-t="${r.t === null || r.t === undefined ? "" : r.t}">${ageText(r.t)}</td></tr>`;
}

// Update one drawn row in place (a new revision of its key): only what changed is written; the hover title
// is written when the pointer comes (see the mouseover listener), not on every update.
function updateRow(tr, r) {
  if (tr._rev === r.rev && tr._op === r.op) return;
  const [opCell, , valCell, revCell, ageCell] = tr.children;
  if (tr._op !== r.op) {
    tr.className = `kvnb-row${r.deleted ? " kvnb-deleted" : ""}`;
    tr.dataset.op = r.op;
    const badge = opCell.firstElementChild;
    badge.className = `kvnb-op ${OP_CLASS[r.op] || ""}`;
    badge.title = r.op;
    badge.textContent = OP_LETTER[r.op] || "?";
  }
  tr._rev = r.rev; tr._op = r.op; tr._row = r;
  tr.dataset.revision = r.rev;
  const value = rowValue(r);
  if (valCell.textContent !== value) valCell.textContent = value;
  revCell.textContent = r.rev;
  const t = r.t === null || r.t === undefined ? "" : String(r.t);
  if (ageCell.dataset.t !== t) {
    ageCell.dataset.t = t;
    const age = ageText(r.t);
    if (ageCell.textContent !== age) ageCell.textContent = age;
  }
}

export default {
  render({ model, el }) {
    const root = kvnbRoot(el, "buckettable");
    const status = h("span", { class: "kvnb-status" });
    const toggle = h("input", { type: "checkbox", class: "kvnb-show-deleted" });
    toggle.addEventListener("change", () => { model.set("show_deleted", toggle.checked); model.save_changes(); });
    const spacer = () => h("tbody", { class: "kvnb-skipped" }, h("tr", {}, h("td", { colspan: 5 })));
    const above = spacer(), body = h("tbody"), below = spacer();
    const box = h("div", { class: "kvnb-table-box" },
      h("table", { class: "kvnb-table kvnb-fixed" },
        h("colgroup", {}, h("col", { class: "kvnb-c-op" }), h("col", { class: "kvnb-c-key" }), h("col", { class: "kvnb-c-val" }),
          h("col", { class: "kvnb-c-rev" }), h("col", { class: "kvnb-c-age" })),
        h("thead", {}, h("tr", {}, h("th", { class: "kvnb-op-col", text: "" }), h("th", { text: "key" }),
          h("th", { class: "kvnb-val", text: "value" }), h("th", { class: "kvnb-num", text: "revision" }),
          h("th", { class: "kvnb-num", text: "age" }))),
        above, body, below));
    root.append(
      h("div", { class: "kvnb-head" },
        h("span", { class: "kvnb-title", text: `bucket ${model.get("bucket")}` }), status, h("span", { class: "kvnb-spacer" }),
        h("label", {}, toggle, " show deleted")),
      errorLine(model), box);

    // The window: rows [first, last) of the rows trait are drawn. Sizes come from the ResizeObserver and the
    // reader's scroll events only, so drawing never waits for a layout.
    let rows = [], first = 0, last = 0, drawnRows = new Map(); // key -> tr
    let scrollTop = 0, boxH = 416, rowH = 21; // px: until measured (26em box, one-line rows)
    const span = () => {
      const perBox = Math.max(10, Math.ceil(boxH / rowH));
      const at = Math.min(rows.length, Math.floor(scrollTop / rowH));
      return [Math.max(0, at - perBox), Math.min(rows.length, at + 2 * perBox)];
    };
    let frame = null, frameBig = false;
    const draw = () => { // keyed: a row whose key is drawn already is updated in place, others are added
      frame = null;
      toggle.checked = !!model.get("show_deleted");
      status.textContent = model.get("summary") || "";
      rows = model.get("rows") || [];
      [first, last] = span();
      const want = rows.slice(first, last);
      const fresh = want.filter((r) => !drawnRows.has(r.key));
      const made = new Map();
      if (fresh.length) { // the new rows as one HTML string
        const tmp = document.createElement("tbody");
        tmp.innerHTML = fresh.map(tableRow).join("");
        [...tmp.children].forEach((tr, i) => {
          tr._rev = fresh[i].rev; tr._op = fresh[i].op; tr._row = fresh[i]; made.set(fresh[i].key, tr);
        });
      }
      const next = new Map();
      let cursor = body.firstElementChild;
      for (const r of want) {
        let tr = drawnRows.get(r.key);
        if (tr) updateRow(tr, r); else tr = made.get(r.key);
        next.set(r.key, tr);
        if (tr === cursor) cursor = cursor.nextElementSibling;
        else body.insertBefore(tr, cursor);
      }
      for (const [key, tr] of drawnRows) if (!next.has(key)) tr.remove();
      drawnRows = next;
      place();
    };
    let placed = "";
    const place = () => { // the spacers stand for the rows not drawn
      const heights = `${Math.round(first * rowH)} ${Math.round((rows.length - last) * rowH)}`;
      if (heights === placed) return;
      placed = heights;
      const [a, b] = heights.split(" ");
      above.firstElementChild.style.height = `${a}px`;
      below.firstElementChild.style.height = `${b}px`;
    };
    // a big table changing fast is redrawn at most 4 times a second, in a task of its own
    const soon = () => {
      if (frame !== null) return;
      const big = (model.get("rows") || []).length > 100;
      frame = big ? setTimeout(draw, 250) : requestAnimationFrame(draw);
      frameBig = big;
    };
    const moved = () => { // the reader scrolled, or the box or the rows changed size: draw what is now near
      const [a, b] = span();
      if ((a !== first || b !== last) && frame === null) { frame = requestAnimationFrame(draw); frameBig = false; }
    };
    box.addEventListener("scroll", () => { scrollTop = box.scrollTop; moved(); }, { passive: true });
    const resize = typeof ResizeObserver === "function" ? new ResizeObserver((entries) => {
      for (const e of entries) {
        const height = e.contentRect.height;
        if (e.target === box && height) boxH = height;
        if (e.target === body && drawnRows.size && height) {
          const measured = height / drawnRows.size;
          if (Math.abs(measured - rowH) > 0.01) { rowH = measured; place(); }
        }
      }
      moved();
    }) : null;
    if (resize) { resize.observe(box); resize.observe(body); }
    body.addEventListener("mouseover", (ev) => {
      const tr = ev.target.closest ? ev.target.closest("tr.kvnb-row") : null;
      if (tr && tr._row) tr.title = rowTitle(tr._row);
    });
    model.on("change:rows", soon);
    model.on("change:summary", soon);
    model.on("change:show_deleted", soon);
    draw();
    const timer = setInterval(() => { for (const tr of drawnRows.values()) tickAge(tr.lastElementChild); }, 1000);
    return () => {
      clearInterval(timer);
      if (resize) resize.disconnect();
      if (frame !== null) (frameBig ? clearTimeout : cancelAnimationFrame)(frame);
    };
  },
};
