// BucketTable front end: the rows trait (natural key order: k2 before k10), ages ticking in the browser.
// Changes that arrive together (rows, summary) are drawn once, in the next frame, as one HTML string.
// Only rows in the table's scroll box are rewritten: a row out of view keeps its new content aside and
// takes it when it scrolls in (a 400-key table under a burst otherwise re-lays-out 400 rows a redraw).

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
    const body = h("tbody");
    root.append(
      h("div", { class: "kvnb-head" },
        h("span", { class: "kvnb-title", text: `bucket ${model.get("bucket")}` }), status, h("span", { class: "kvnb-spacer" }),
        h("label", {}, toggle, " show deleted")),
      errorLine(model),
      h("div", { class: "kvnb-table-box" },
        h("table", { class: "kvnb-table kvnb-fixed" },
          h("colgroup", {}, h("col", { class: "kvnb-c-op" }), h("col", { class: "kvnb-c-key" }), h("col", { class: "kvnb-c-val" }),
            h("col", { class: "kvnb-c-rev" }), h("col", { class: "kvnb-c-age" })),
          h("thead", {}, h("tr", {}, h("th", { class: "kvnb-op-col", text: "" }), h("th", { text: "key" }),
            h("th", { class: "kvnb-val", text: "value" }), h("th", { class: "kvnb-num", text: "revision" }),
            h("th", { class: "kvnb-num", text: "age" }))),
          body)));
    let frame = null;
    let drawnRows = new Map(); // key -> tr
    const box = root.querySelector(".kvnb-table-box");
    // tr._inView: undefined until the observer has seen the row (then it is treated as in view)
    const seen = typeof IntersectionObserver === "function" ? new IntersectionObserver((entries) => {
      for (const e of entries) {
        const tr = e.target;
        tr._inView = e.isIntersecting;
        if (!tr._inView) continue;
        if (tr._pending) { const r = tr._pending; tr._pending = null; updateRow(tr, r); }
        tickAge(tr.lastElementChild); // left behind while out of view
      }
    }, { root: box, rootMargin: "200px 0px" }) : null;
    const refresh = (tr, r) => {
      if (tr._inView === false) tr._pending = r; else { tr._pending = null; updateRow(tr, r); }
    };
    const draw = () => { // keyed: a row whose key is drawn already is updated in place, others are added
      frame = null;
      toggle.checked = !!model.get("show_deleted");
      status.textContent = model.get("summary") || "";
      const rows = model.get("rows") || [];
      // at most 40 new rows a frame (a 400-key table appears over ten short frames, not in one long one)
      const missing = rows.filter((r) => !drawnRows.has(r.key));
      const fresh = missing.slice(0, 40);
      const made = new Map();
      if (fresh.length) {
        const tmp = document.createElement("tbody");
        tmp.innerHTML = fresh.map(tableRow).join("");
        [...tmp.children].forEach((tr, i) => {
          tr._rev = fresh[i].rev; tr._op = fresh[i].op; tr._row = fresh[i]; made.set(fresh[i].key, tr);
          if (seen) seen.observe(tr);
        });
      }
      const next = new Map();
      let cursor = body.firstElementChild;
      for (const r of rows) {
        let tr = drawnRows.get(r.key);
        if (tr) refresh(tr, r); else tr = made.get(r.key);
        if (!tr) continue; // drawn in the next task
        next.set(r.key, tr);
        if (tr === cursor) cursor = cursor.nextElementSibling;
        else body.insertBefore(tr, cursor);
      }
      for (const [key, tr] of drawnRows) if (!next.has(key)) { if (seen) seen.unobserve(tr); tr.remove(); }
      drawnRows = next;
      if (missing.length > fresh.length && frame === null) { frame = requestAnimationFrame(draw); frameBig = false; }
    };
    // a big table changing fast is redrawn at most 4 times a second, in a task of its own
    const soon = () => {
      if (frame !== null) return;
      const big = (model.get("rows") || []).length > 100;
      frame = big ? setTimeout(draw, 250) : requestAnimationFrame(draw);
      frameBig = big;
    };
    let frameBig = false;
    body.addEventListener("mouseover", (ev) => {
      const tr = ev.target.closest ? ev.target.closest("tr.kvnb-row") : null;
      if (tr && tr._row) tr.title = rowTitle(tr._row);
    });
    model.on("change:rows", soon);
    model.on("change:summary", soon);
    model.on("change:show_deleted", soon);
    draw();
    const timer = setInterval(() => { // ages of the rows in view (a row scrolling in gets its age then)
      for (const tr of drawnRows.values()) {
        if (tr._inView !== false) tickAge(tr.lastElementChild);
      }
    }, 1000);
    return () => {
      clearInterval(timer);
      if (seen) seen.disconnect();
      if (frame !== null) (frameBig ? clearTimeout : cancelAnimationFrame)(frame);
    };
  },
};
