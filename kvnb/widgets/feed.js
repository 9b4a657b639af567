// WatchFeed front end: newest row first; rows arrive as small deltas, ages tick in the browser.

function feedRow(r) {
  if (r.k === "g") {
    return h("div", { class: "kvnb-gap", "data-first": r.first, "data-last": r.last, text: r.text });
  }
  if (r.k === "c") {
    return h("div", { class: "kvnb-caught-up", "data-revision": r.rev, text: r.text });
  }
  const title = `revision ${r.rev} · ${r.op}` + (r.t ? ` · ${timeText(r.t)}` : "") +
    (r.d !== null && r.d !== undefined ? ` · delta ${r.d}` : "");
  const age = h("span", { class: "kvnb-age", text: ageText(r.t) });
  age._t = r.t;
  return h("div", { class: "kvnb-feed-row", "data-key": r.key, "data-revision": r.rev, "data-op": r.op, title },
    opBadge(r.op),
    h("span", { class: "kvnb-key", text: r.key }),
    h("span", { class: "kvnb-rev", text: `rev ${r.rev}` }),
    h("span", { class: "kvnb-val", text: r.op === "PUT" ? JSON.stringify(r.v) : `(${r.op === "DEL" ? "deleted" : "purged"})` }),
    age);
}

function feedStatus(s) {
  if (!s) return "";
  const parts = [`${s.events} events`, s.caught_up ? "caught up" : "catching up…"];
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
    const rate = h("span", { class: "kvnb-rate kvnb-status", title: "events per second", text: "" });
    const pause = h("button", { class: "kvnb-pause", text: "Pause", onclick: () => action(model, pause.textContent === "Pause" ? "pause" : "resume") });
    const clear = h("button", { class: "kvnb-clear", text: "Clear", onclick: () => action(model, "clear") });
    const list = h("div", { class: "kvnb-feed-rows" });
    root.append(
      h("div", { class: "kvnb-head" },
        h("span", { class: "kvnb-title", text: `watch ${model.get("pattern")} on ${model.get("bucket")}` }),
        status, h("span", { class: "kvnb-spacer" }), rate, pause, clear),
      errorLine(model), list);
    let maxRows = 200;

    const showStatus = (s) => {
      status.textContent = feedStatus(s);
      rate.textContent = s ? `${s.rate} ev/s` : "";
      pause.textContent = s && s.paused ? "Resume" : "Pause";
    };
    const trim = () => { while (list.childElementCount > maxRows) list.lastElementChild.remove(); };
    const stop = kvnbStream(model,
      (data) => {
        maxRows = data.max_rows || maxRows;
        list.replaceChildren(...data.rows.map(feedRow));
        showStatus(data.status);
      },
      (data) => {
        if (data.rows && data.rows.length) {
          const frag = document.createDocumentFragment();
          for (const r of data.rows.slice(0, maxRows)) frag.append(feedRow(r));
          list.prepend(frag);
          trim();
        }
        showStatus(data.status);
      });
    const timer = setInterval(() => {
      for (const age of list.querySelectorAll(".kvnb-age")) age.textContent = ageText(age._t);
    }, 1000);
    return () => { stop(); clearInterval(timer); };
  },
};
