// Playground front end: inputs and buttons; the kernel runs the operation and sets `result`.

const BUTTONS = ["Put", "Get", "Create", "Update", "Delete", "Purge"];

export default {
  render({ model, el }) {
    const root = kvnbRoot(el, "playground");
    const key = h("input", { type: "text", placeholder: "key, e.g. color", spellcheck: "false" });
    const value = h("input", { type: "text", placeholder: "value", spellcheck: "false" });
    const last = h("input", { type: "number", min: 0, step: 1, title: "Update succeeds only if this is the key's latest revision" });
    const result = h("div", { class: "kvnb-pg-result" });
    const log = h("div", { class: "kvnb-pg-log" });
    // each input syncs only its own trait: setting one must not redraw (and wipe) the others
    const bind = (input, name, read) => {
      input.addEventListener("change", () => { model.set(name, read(input.value)); model.save_changes(); });
      model.on(`change:${name}`, () => { if (document.activeElement !== input) input.value = model.get(name); });
      input.value = model.get(name);
    };
    bind(key, "key", String);
    bind(value, "value", String);
    bind(last, "last", (v) => Number(v) || 0);
    const buttons = BUTTONS.map((name) => h("button", {
      class: `kvnb-pg-${name.toLowerCase()}`, text: name,
      onclick: () => action(model, name.toLowerCase(), { key: key.value, value: value.value, last: last.value }),
    }));
    root.append(
      h("div", { class: "kvnb-head" }, h("span", { class: "kvnb-title", text: `playground on bucket ${model.get("bucket")}` })),
      h("div", { class: "kvnb-pg-form" },
        h("label", { class: "kvnb-pg-key" }, "key ", key),
        h("label", { class: "kvnb-pg-value" }, "value ", value),
        h("label", { class: "kvnb-pg-last" }, "last revision ", last)),
      h("div", { class: "kvnb-pg-buttons" }, ...buttons),
      errorLine(model), result, log);
    const draw = () => {
      result.textContent = model.get("result") || "";
      result.className = "kvnb-pg-result" + (model.get("result") ? (model.get("ok") ? " kvnb-good" : " kvnb-bad") : "");
      for (const b of buttons) b.disabled = !!model.get("busy");
      log.replaceChildren(...(model.get("log") || []).slice(1).map((line) => h("div", { text: line })));
    };
    for (const name of ["result", "ok", "busy", "log"]) model.on(`change:${name}`, draw);
    draw();
  },
};
