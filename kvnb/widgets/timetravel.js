// TimeTravel front end: a revision slider and the bucket as it was at that revision.

export default {
  render({ model, el }) {
    const root = kvnbRoot(el, "timetravel");
    const slider = h("input", { type: "range", class: "kvnb-tt-slider", step: 1 });
    const label = h("span", { class: "kvnb-status kvnb-tt-label" });
    const reload = h("button", { class: "kvnb-reload", text: "Reload", title: "read the history again", onclick: () => action(model, "load") });
    const note = h("div", { class: "kvnb-note" });
    const body = h("tbody");
    slider.addEventListener("input", () => { label.textContent = `revision ${slider.value}`; });
    slider.addEventListener("change", () => { model.set("revision", Number(slider.value)); model.save_changes(); });
    root.append(
      h("div", { class: "kvnb-head" }, h("span", { class: "kvnb-title", text: `bucket ${model.get("bucket")} at` }), slider, label, reload),
      errorLine(model), note,
      h("table", { class: "kvnb-table" },
        h("thead", {}, h("tr", {}, h("th", { text: "key" }), h("th", { text: "value then" }), h("th", { text: "revision" }))),
        body));
    const draw = () => {
      slider.min = model.get("min_revision");
      slider.max = model.get("max_revision");
      slider.value = model.get("revision");
      slider.disabled = !model.get("loaded") || model.get("max_revision") < 1;
      label.textContent = model.get("loaded") ? `revision ${model.get("revision")} of ${model.get("min_revision")}..${model.get("max_revision")}` : "loading…";
      const view = model.get("view") || {};
      note.textContent = view.note || "";
      body.replaceChildren(...(view.rows || []).map((r) => {
        let value;
        if (r.status === "value") value = h("td", { class: "kvnb-val", text: r.value });
        else if (r.status === "deleted") value = h("td", { class: "kvnb-deleted", text: `(${r.op === "DEL" ? "deleted" : "purged"})` });
        else value = h("td", { class: "kvnb-unknowable", title: r.reason || "", text: `? unknowable: ${r.reason || ""}` });
        return h("tr", { class: `kvnb-row kvnb-${r.status}`, "data-key": r.key, "data-status": r.status },
          h("td", { text: r.key }), value, h("td", { text: r.rev === null || r.rev === undefined ? "" : r.rev }));
      }));
    };
    for (const name of ["view", "revision", "min_revision", "max_revision", "loaded"]) model.on(`change:${name}`, draw);
    draw();
  },
};
