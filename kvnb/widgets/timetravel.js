// TimeTravel front end: a revision slider and the bucket as it was at that revision.
// The slider moves with the mouse and the keyboard (arrow keys, Home/End, PageUp/PageDown): keys pressed
// inside the widget never reach JupyterLab's shortcuts (see kvnbRoot).

export default {
  render({ model, el }) {
    const root = kvnbRoot(el, "timetravel");
    const slider = h("input", { type: "range", class: "kvnb-tt-slider", step: 1, "aria-label": "revision" });
    const label = h("span", { class: "kvnb-tt-label", text: "" });
    const older = h("button", { class: "kvnb-tt-older", text: "← older", title: "one revision back" });
    const newer = h("button", { class: "kvnb-tt-newer", text: "newer →", title: "one revision forward" });
    const reload = h("button", { class: "kvnb-reload", text: "Reload", title: "read the history again", onclick: () => action(model, "load") });
    const range = h("span", { class: "kvnb-status kvnb-tt-range" });
    const note = h("div", { class: "kvnb-note" });
    const body = h("tbody");
    let timer = null;
    const send = (value) => {
      const rev = Math.max(model.get("min_revision"), Math.min(model.get("max_revision"), value));
      if (rev === model.get("revision")) return;
      model.set("revision", rev);
      model.save_changes();
    };
    const sendSoon = () => { // while dragging or holding a key: at most every 60 ms
      label.textContent = `revision ${slider.value}`;
      if (timer === null) timer = setTimeout(() => { timer = null; send(Number(slider.value)); }, 60);
    };
    slider.addEventListener("input", sendSoon);
    slider.addEventListener("change", () => send(Number(slider.value)));
    older.addEventListener("click", () => send(model.get("revision") - 1));
    newer.addEventListener("click", () => send(model.get("revision") + 1));
    root.append(
      h("div", { class: "kvnb-head" }, h("span", { class: "kvnb-title", text: `bucket ${model.get("bucket")} at` }), label,
        range, h("span", { class: "kvnb-spacer" }), reload),
      h("div", { class: "kvnb-tt-bar" }, older, slider, newer),
      errorLine(model), note,
      h("table", { class: "kvnb-table" },
        h("thead", {}, h("tr", {}, h("th", { text: "key" }), h("th", { class: "kvnb-val", text: "value then" }),
          h("th", { class: "kvnb-num", text: "written at revision" }))),
        body));
    const draw = () => {
      const lo = model.get("min_revision"), hi = model.get("max_revision"), rev = model.get("revision");
      slider.min = lo;
      slider.max = hi;
      if (document.activeElement !== slider || timer === null) slider.value = rev;
      const off = !model.get("loaded") || hi < 1;
      slider.disabled = off;
      older.disabled = off || rev <= lo;
      newer.disabled = off || rev >= hi;
      label.textContent = model.get("loaded") ? `revision ${rev}` : "loading…";
      range.textContent = model.get("loaded") ? `kept: revisions ${lo}..${hi}` : "";
      const view = model.get("view") || {};
      note.textContent = view.note || "";
      body.replaceChildren(...(view.rows || []).map((r) => {
        let value;
        if (r.status === "value") value = h("td", { class: "kvnb-val", text: r.shown !== undefined ? r.shown : r.value });
        else if (r.status === "deleted") value = h("td", { class: "kvnb-val kvnb-marker", text: `(${r.op === "DEL" ? "deleted" : "purged"})` });
        else value = h("td", { class: "kvnb-val kvnb-unknowable", title: r.reason || "", text: `cannot be known: ${r.reason || ""}` });
        return h("tr", { class: `kvnb-row kvnb-${r.status}`, "data-key": r.key, "data-status": r.status },
          h("td", { class: "kvnb-key", text: r.key }), value,
          h("td", { class: "kvnb-num", text: r.rev === null || r.rev === undefined ? "" : r.rev }));
      }));
    };
    for (const name of ["view", "revision", "min_revision", "max_revision", "loaded"]) model.on(`change:${name}`, draw);
    draw();
    return () => { if (timer !== null) clearTimeout(timer); };
  },
};
