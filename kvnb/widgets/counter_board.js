// CounterBoard front end: one row per counter, its total, a bar (share of the largest), the last increment.

export default {
  render({ model, el }) {
    const root = kvnbRoot(el, "counterboard");
    const status = h("span", { class: "kvnb-status" });
    const body = h("tbody");
    root.append(
      h("div", { class: "kvnb-head" },
        h("span", { class: "kvnb-title", text: `counters ${model.get("bucket")} · ${model.get("pattern")}` }), status),
      errorLine(model),
      h("table", { class: "kvnb-table" },
        h("thead", {}, h("tr", {}, h("th", { text: "key" }), h("th", { text: "total" }), h("th", { text: "" }),
          h("th", { text: "last" }))),
        body));
    const draw = () => {
      status.textContent = model.get("summary") || "";
      body.replaceChildren(...(model.get("rows") || []).map((r) => {
        const bar = h("span", { class: "kvnb-counter-bar" });
        bar.style.display = "inline-block";
        bar.style.height = "0.8em";
        bar.style.width = `${Math.round(160 * r.share)}px`;
        bar.style.background = "var(--jp-brand-color1, #1976d2)";
        const delta = r.delta === null || r.delta === undefined ? "" : (r.delta >= 0 ? `+${r.delta}` : `${r.delta}`);
        return h("tr", { class: "kvnb-row", "data-key": r.key, "data-revision": r.rev },
          h("td", { text: r.key }), h("td", { class: "kvnb-val", text: r.value }), h("td", {}, bar),
          h("td", { class: "kvnb-status", text: delta }));
      }));
    };
    model.on("change:rows", draw);
    model.on("change:summary", draw);
    draw();
  },
};
