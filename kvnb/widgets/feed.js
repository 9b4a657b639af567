// WatchFeed front end: newest row first; rows arrive as small deltas, ages tick in the browser.
// Columns line up: the key and revision columns are as wide as the widest seen (two CSS variables),
// revisions are right-aligned tabular numbers.
// Only the newest rows are in the DOM (the box and a little more); older rows, up to max_rows, wait as data
// and are drawn when the reader scrolls down to them. A burst then adds and drops few elements a frame
// instead of rebuilding 200 rows each time. Every drawn row is styled and laid out: a row scrolled out of
// view costs as much as one in it (content-visibility would skip it, but costs a second layout a frame).
const DOM_ROWS = 24; // rows drawn while the reader is at the top (the box shows about 14)

const OP_WORD = { PUT: "put (a new value)", DEL: "delete (a delete marker)", PURGE: "purge (older revisions removed)" };

function feedRow(r) {
  if (r.k === "g") {
    return h("div", { class: "kvnb-gap", "data-first": r.first, "data-last": r.last, text: r.text });
  }
  if (r.k === "c") {
    return h("div", { class: "kvnb-caught-up", "data-revision": r.rev, text: r.text });
  }
  const title = `key ${r.key}, revision ${r.rev}: ${OP_WORD[r.op] || r.op}` + (r.t ? `\nwritten ${timeText(r.t)}` : "");
  const age = h("span", { class: "kvnb-age", "data-t": r.t === null || r.t === undefined ? "" : r.t, text: ageText(r.t) });
  return h("div", { class: "kvnb-feed-row", "data-key": r.key, "data-revision": r.rev, "data-op": r.op, title },
    opBadge(r.op),
    h("span", { class: "kvnb-key", text: r.key }),
    h("span", { class: "kvnb-rev", text: r.rev }),
    h("span", { class: `kvnb-val${r.op === "PUT" ? "" : " kvnb-marker"}`, text: r.op === "PUT" ? r.v : `(${r.op === "DEL" ? "deleted" : "purged"})` }),
    age);
}

function escFeed(s) {
  return String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c]));
}

// The same row as feedRow, as HTML: a burst's 200 new rows are parsed in one go.
function feedRowHtml(r) {
  if (r.k !== "e") return feedRow(r).outerHTML;
  const title = `key ${r.key}, revision ${r.rev}: ${OP_WORD[r.op] || r.op}` + (r.t ? `\nwritten ${timeText(r.t)}` : "");
  const value = r.op === "PUT" ? r.v : `(${r.op === "DEL" ? "deleted" : "purged"})`;
  return `<div class="kvnb-feed-row" data-key="${escFeed(r.key)}" data-revision="${r.rev}" data-op="${r.op}" title="${escFeed(title)}">` +
    `<span class="kvnb-op ${OP_CLASS[r.op] || ""}" title="${r.op}">${OP_LETTER[r.op] || "?"}</span>` +
    `<span class="kvnb-key">${escFeed(r.key)}</span><span class="kvnb-rev">${r.rev}</span>` +
    `<span class="kvnb-val${r.op === "PUT" ? "" : " kvnb-marker"}">${escFeed(value)}</span>` +
    `<span class="kvnb-age" data-t="${r.t === null || r.t === undefined ? "" : r.t}">${ageText(r.t)}</span></div>`;
}

function feedStatus(s) {
  if (!s) return "";
  const parts = [`${s.events} event${s.events === 1 ? "" : "s"}`, s.caught_up ? "caught up" : "catching up…"];
  if (s.gaps) parts.push(`${s.gaps} gap${s.gaps === 1 ? "" : "s"} (${s.skipped} revisions not seen)`);
  if (s.hidden) parts.push(`${s.hidden} deletes hidden`);
  if (s.dropped) parts.push(`${s.dropped} older rows dropped`);
  if (s.paused) parts.push(`paused, ${s.new_while_paused} new`);
  if (s.watch_error) parts.push(s.watch_error);
  return parts.join(" · ");
}

export default {
  render({ model, el }) {
    const root = kvnbRoot(el, "watchfeed");
    const status = h("span", { class: "kvnb-status", text: "connecting…" });
    const rate = h("span", { class: "kvnb-rate kvnb-status", title: "events per second, over the last 2 s", text: "" });
    const pause = h("button", { class: "kvnb-pause", text: "Pause", onclick: () => action(model, pause.textContent === "Pause" ? "pause" : "resume") });
    const clear = h("button", { class: "kvnb-clear", text: "Clear", onclick: () => action(model, "clear") });
    const list = h("div", { class: "kvnb-feed-rows" });
    const header = h("div", { class: "kvnb-feed-header" },
      h("span", { class: "kvnb-op-h", text: "op" }), h("span", { class: "kvnb-key", text: "key" }),
      h("span", { class: "kvnb-rev", text: "revision" }), h("span", { class: "kvnb-val", text: "value" }),
      h("span", { class: "kvnb-age", text: "age" }));
    const table = h("div", { class: "kvnb-feed-table" }, header, list);
    root.append(
      h("div", { class: "kvnb-head" },
        h("span", { class: "kvnb-title", text: `watch ${model.get("pattern")} on ${model.get("bucket")}` }),
        status, h("span", { class: "kvnb-spacer" }), rate, pause, clear),
      errorLine(model), table);
    let maxRows = 200, keyW = 3, revW = 8;

    const widen = (rows) => { // the key and revision columns grow to the widest value seen (capped)
      let k = keyW, r = revW;
      for (const row of rows) {
        if (row.k !== "e") continue;
        if (row.key.length > k) k = Math.min(32, row.key.length);
        const n = String(row.rev).length;
        if (n > r) r = n;
      }
      if (k !== keyW) { keyW = k; table.style.setProperty("--kvnb-key-w", `${k + 1}ch`); }
      if (r !== revW) { revW = r; table.style.setProperty("--kvnb-rev-w", `${r}ch`); }
    };
    const showStatus = (s) => {
      status.textContent = feedStatus(s);
      rate.textContent = s ? `${s.rate} events/s` : "";
      pause.textContent = s && s.paused ? "Resume" : "Pause";
    };
    // drawn: the rows in the DOM (newest first, one per child of list); held: the older rows kept as data
    let drawn = [], held = [], domCap = DOM_ROWS;
    const settle = () => { // draw down to domCap, hold what is beyond, keep maxRows in all
      while (drawn.length > domCap) { held.unshift(drawn.pop()); list.lastElementChild.remove(); }
      if (drawn.length < domCap && held.length) {
        const more = held.splice(0, domCap - drawn.length);
        list.insertAdjacentHTML("beforeend", more.map(feedRowHtml).join(""));
        drawn = drawn.concat(more);
      }
      if (drawn.length + held.length > maxRows) held.length = Math.max(0, maxRows - drawn.length);
    };
    // Scrolled near the end of the drawn rows: draw more; back at the top: keep only the newest drawn.
    list.addEventListener("scroll", () => {
      const nearEnd = list.scrollTop + list.clientHeight >= list.scrollHeight - 200;
      const cap = list.scrollTop < 40 ? DOM_ROWS : nearEnd ? Math.min(maxRows, domCap + DOM_ROWS) : domCap;
      if (cap !== domCap) { domCap = cap; settle(); }
    }, { passive: true });
    let pending = [], lastStatus = null, timer2 = null, lastFlush = -1e9, painted = true;
    const flush = () => {
      timer2 = null;
      lastFlush = performance.now();
      painted = false; // until the frame that shows these rows: more rows meanwhile wait for the next frame
      requestAnimationFrame(() => { painted = true; });
      if (pending.length) {
        widen(pending);
        if (pending.length >= domCap) { // the new rows alone fill the drawn part: all drawn before is held now
          held = pending.slice(domCap).concat(drawn, held);
          drawn = pending.slice(0, domCap);
          list.innerHTML = drawn.map(feedRowHtml).join("");
        } else {
          list.insertAdjacentHTML("afterbegin", pending.map(feedRowHtml).join(""));
          drawn = pending.concat(drawn);
        }
        pending = [];
        settle();
      }
      showStatus(lastStatus);
    };
    const stop = kvnbStream(model,
      (data) => {
        if (timer2 !== null) { cancelAnimationFrame(timer2); timer2 = null; }
        pending = [];
        maxRows = data.max_rows || maxRows;
        widen(data.rows);
        drawn = data.rows.slice(0, domCap);
        held = data.rows.slice(domCap, maxRows);
        list.innerHTML = drawn.map(feedRowHtml).join("");
        showStatus(data.status);
      },
      (data) => { // a quiet feed draws at once; a busy one in the next frame, deltas that came meanwhile together
        if (data.rows && data.rows.length) pending = data.rows.concat(pending).slice(0, maxRows);
        lastStatus = data.status;
        if (timer2 !== null) return;
        if (painted && performance.now() - lastFlush > 30) flush(); // (the kernel sends at most 20 a second)
        else timer2 = requestAnimationFrame(flush);
      }, "watchfeed");
    const timer = setInterval(() => {
      for (const age of list.querySelectorAll(".kvnb-age")) tickAge(age);
    }, 1000);
    return () => { stop(); clearInterval(timer); if (timer2 !== null) cancelAnimationFrame(timer2); };
  },
};
