// BucketTable front end: the rows trait (natural key order: k2 before k10), ages ticking in the browser.

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
      h("table", { class: "kvnb-table" },
        h("thead", {}, h("tr", {}, h("th", { class: "kvnb-op-col", text: "" }), h("th", { text: "key" }),
          h("th", { class: "kvnb-val", text: "value" }), h("th", { class: "kvnb-num", text: "revision" }),
          h("th", { class: "kvnb-num", text: "age" }))),
        body));
    const draw = () => {
      toggle.checked = !!model.get("show_deleted");
      status.textContent = model.get("summary") || "";
      body.replaceChildren(...(model.get("rows") || []).map((r) => {
        const age = h("td", { class: "kvnb-age kvnb-num", text: ageText(r.t) });
        age._t = r.t;
        return h("tr", { class: `kvnb-row${r.deleted ? " kvnb-deleted" : ""}`, "data-key": r.key, "data-revision": r.rev, "data-op": r.op,
          title: `key ${r.key}, revision ${r.rev}` + (r.t ? `, written ${timeText(r.t)}` : "") },
          h("td", { class: "kvnb-op-col" }, opBadge(r.op)), h("td", { class: "kvnb-key", text: r.key }),
          h("td", { class: "kvnb-val", text: r.deleted ? `(${r.op === "DEL" ? "deleted" : "purged"} at revision ${r.rev})` : r.shown }),
          h("td", { class: "kvnb-num", text: r.rev }), age);
      }));
    };
    model.on("change:rows", draw);
    model.on("change:summary", draw);
    model.on("change:show_deleted", draw);
    draw();
    const timer = setInterval(() => { for (const a of body.querySelectorAll(".kvnb-age")) a.textContent = ageText(a._t); }, 1000);
    return () => clearInterval(timer);
  },
};
