// Race front end: one lane per writer (+ stored, × conflict, ! error), the verdict and the speed.
// mode "counter": the writers add to a server-side counter (no conflicts possible).

const HOW = {
  cas: "get + update(last=), retry on conflict",
  put: "get + put (no revision check)",
  counter: "server-side counter: each writer sends +1, the server adds",
};

const OUT_CLASS = { "+": "kvnb-out-ok", "×": "kvnb-out-conflict", "!": "kvnb-out-error" };

export default {
  render({ model, el }) {
    const root = kvnbRoot(el, "race");
    const title = h("span", { class: "kvnb-title" });
    const status = h("span", { class: "kvnb-status" });
    const run = h("button", { class: "kvnb-run", text: "Run", onclick: () => action(model, "run") });
    const lanes = h("div", { class: "kvnb-race-lanes" });
    const verdict = h("div", { class: "kvnb-verdict" });
    const legend = h("div", { class: "kvnb-legend" },
      h("span", {}, h("span", { class: "kvnb-out-ok", text: "+" }), " increment stored"),
      h("span", {}, h("span", { class: "kvnb-out-conflict", text: "×" }), " conflict: another writer came first, read again and retry"),
      h("span", {}, h("span", { class: "kvnb-out-error", text: "!" }), " error"));
    root.append(h("div", { class: "kvnb-head" }, title, status, h("span", { class: "kvnb-spacer" }), run),
      legend, errorLine(model), lanes, verdict);
    const draw = () => {
      const s = model.get("state") || {};
      const how = HOW[model.get("mode")] || HOW.cas;
      title.textContent = `race on ${model.get("key")}: ${model.get("writers")} writers × ${model.get("increments")} increments, ${how}`;
      run.disabled = !!model.get("running");
      status.textContent = model.get("running") ? `running… ${s.successes || 0} stored, ${s.conflicts || 0} conflicts` :
        (s.finished ? "" : "press Run");
      lanes.replaceChildren(...(s.writers || []).map((w) => {
        const strip = h("span", { class: "kvnb-race-strip" });
        for (const c of w.recent) strip.append(h("span", { class: OUT_CLASS[c] || "", text: c }));
        return h("div", { class: "kvnb-race-lane", "data-writer": w.i },
          h("span", { class: "kvnb-race-name", text: `writer ${w.i}${w.done ? " ✓" : ""}` }),
          h("span", { class: "kvnb-race-count", text: `${w.ok} stored · ${w.conflicts} conflicts · ${w.retries} retried` + (w.errors ? ` · ${w.errors} errors` : "") }),
          strip);
      }));
      verdict.textContent = (s.summary || "") + (s.speed ? ` (${s.speed})` : "");
      verdict.className = "kvnb-verdict" + (s.finished ? (s.ok ? " kvnb-good" : " kvnb-bad") : "");
    };
    for (const name of ["state", "running", "cas", "mode", "writers", "increments", "key"]) model.on(`change:${name}`, draw);
    draw();
  },
};
