// Race front end: one lane per writer (+ stored, × refused and retried, ! error), the verdict, its arithmetic
// and the speed. mode "counter": the writers add to a server-side counter (nothing can be refused).

const HOW = {
  cas: "get + update(last=), retry when refused",
  put: "get + plain put (no revision check)",
  counter: "server-side counter: each writer sends +1, the server adds",
};

const OUT_CLASS = { "+": "kvnb-out-ok", "×": "kvnb-out-conflict", "!": "kvnb-out-error" };

function laneWords(w, cas, mode) {
  if (mode === "counter") return `${w.ok} increment${w.ok === 1 ? "" : "s"} added by the server${w.done ? ", done" : ""}`;
  if (!cas) return `${w.ok} put${w.ok === 1 ? "" : "s"} stored${w.done ? ", done" : ""}`;
  const attempts = w.ok + w.conflicts + w.errors;
  let text = `${w.ok} stored + ${w.conflicts} refused (retried)`;
  if (w.errors) text += ` + ${w.errors} error${w.errors === 1 ? "" : "s"}`;
  return `${text} = ${attempts} attempt${attempts === 1 ? "" : "s"}${w.done ? ", done" : ""}`;
}

export default {
  render({ model, el }) {
    const root = kvnbRoot(el, "race");
    const title = h("span", { class: "kvnb-title" });
    const status = h("span", { class: "kvnb-status" });
    const run = h("button", { class: "kvnb-run", text: "Run", onclick: () => action(model, "run") });
    const lanes = h("div", { class: "kvnb-race-lanes" });
    const verdict = h("div", { class: "kvnb-verdict" });
    const arithmetic = h("div", { class: "kvnb-arithmetic kvnb-status" });
    const legend = h("div", { class: "kvnb-legend" },
      h("span", {}, h("b", { class: "kvnb-out-ok", text: "+" }), " increment stored"),
      h("span", {}, h("b", { class: "kvnb-out-conflict", text: "×" }), " refused: another writer got there first, so read again and retry"),
      h("span", {}, h("b", { class: "kvnb-out-error", text: "!" }), " error"));
    root.append(h("div", { class: "kvnb-head" }, title, status, h("span", { class: "kvnb-spacer" }), run),
      legend, errorLine(model), lanes, verdict, arithmetic);
    const draw = () => {
      const s = model.get("state") || {};
      const mode = model.get("mode") || (model.get("cas") ? "cas" : "put");
      const cas = mode === "cas";
      const how = HOW[mode] || HOW.cas;
      const n = model.get("writers");
      title.textContent = `race on ${model.get("key")}: ${n} writer${n === 1 ? "" : "s"} × ${model.get("increments")} increments, ${how}`;
      run.disabled = !!model.get("running");
      if (model.get("running")) {
        const total = s.total || n * model.get("increments");
        status.textContent = `running… ${s.successes || 0} of ${total} increments stored` +
          (cas ? `, ${s.conflicts || 0} writes refused and retried` : "");
      } else status.textContent = s.finished ? "" : "press Run";
      lanes.replaceChildren(...(s.writers || []).map((w) => {
        const strip = h("span", { class: "kvnb-race-strip", title: "the latest attempts, oldest first" });
        for (const c of w.recent) strip.append(h("span", { class: OUT_CLASS[c] || "", text: c }));
        return h("div", { class: "kvnb-race-lane", "data-writer": w.i },
          h("span", { class: "kvnb-race-name", text: `writer ${w.i}` }),
          h("span", { class: "kvnb-race-count", text: laneWords(w, cas, mode) }),
          strip);
      }));
      verdict.textContent = s.verdict || "";
      verdict.title = s.summary || "";
      arithmetic.textContent = (s.arithmetic || "") + (s.speed ? ` (${s.speed})` : "");
      verdict.className = "kvnb-verdict" + (s.finished ? (s.ok ? " kvnb-good" : " kvnb-bad") : "");
    };
    for (const name of ["state", "running", "cas", "mode", "writers", "increments", "key"]) model.on(`change:${name}`, draw);
    draw();
  },
};
