// The explorer: fetches /api/explore with the page's own query string and
// steps through the forward pass, the backward pass and the update.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const state = { data: null, steps: [], at: 0, nodes: new Map() };

  // The page's parameters, as typed: `+` stays a plus.
  function rawParams() {
    const out = [];
    for (const part of location.search.replace(/^\?/, "").split("&")) {
      if (!part) continue;
      const i = part.indexOf("=");
      const k = i < 0 ? part : part.slice(0, i);
      const v = i < 0 ? "" : part.slice(i + 1);
      out.push([decodeURIComponent(k), decodeURIComponent(v)]);
    }
    return out;
  }
  function param(name) {
    const hit = rawParams().find(([k]) => k === name);
    return hit ? hit[1] : null;
  }
  function setParam(name, value) {
    const parts = location.search.replace(/^\?/, "").split("&").filter((p) => p && !p.startsWith(name + "="));
    if (value !== null) parts.push(name + "=" + value);
    history.replaceState(null, "", location.pathname + (parts.length ? "?" + parts.join("&") : ""));
  }

  // Full precision, as JSON writes it.
  const full = (v) => (v === null || v === undefined ? "" : typeof v === "number" ? String(v) : JSON.stringify(v));

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function showError(message) {
    const box = $("error");
    box.textContent = message;
    box.hidden = false;
    $("title").textContent = "Nothing to show";
  }

  function buildSteps(report) {
    const steps = [];
    for (const section of report.sections) {
      const t = section.title;
      const phase = t.startsWith("Forward") ? "forward" : t.startsWith("Backward") ? "backward" : t.startsWith("Gradient descent") ? "update" : null;
      if (!phase) continue;
      for (const row of section.rows) {
        if (row.sub && steps.length) steps[steps.length - 1].subs.push(row);
        else steps.push({ phase, section: t, row, id: parseInt(row.step, 10), subs: [] });
      }
    }
    return steps;
  }

  // Prepares the SVG of `chainrule graph`: each node's group carries
  // data-node; its value and gradient lines stay hidden until their step.
  function prepareGraph(data) {
    const holder = $("graph");
    holder.innerHTML = data.layout.svg;
    const svg = holder.querySelector("svg");
    svg.removeAttribute("width");
    svg.removeAttribute("height");
    svg.setAttribute("role", "img");
    const byId = new Map(data.explain.nodes.map((n) => [n.id, n]));
    state.nodes = new Map();
    for (const n of data.layout.nodes) {
      const g = svg.querySelector("#n" + n.id);
      const info = byId.get(n.id);
      if (!g || !info) continue;
      g.classList.add("node");
      g.setAttribute("data-node", info.name);
      g.setAttribute("data-id", String(n.id));
      let mode = "head";
      for (const text of g.querySelectorAll("text")) {
        const s = text.textContent;
        if (!s.startsWith(" ")) mode = s.startsWith("value") ? "value" : s.startsWith("grad") ? "grad" : "head";
        if (mode !== "head") text.classList.add("line-" + mode);
      }
      state.nodes.set(n.id, { g, info });
    }
    const paths = svg.querySelectorAll("path.edge");
    const labels = svg.querySelectorAll("rect.label");
    let k = 0;
    data.layout.routes.forEach((r, i) => {
      const p = paths[i];
      if (!p) return;
      p.dataset.from = r.from;
      p.dataset.to = r.to;
      if (r.label !== null && labels[k]) {
        const rect = labels[k++];
        for (const e of [rect, rect.nextElementSibling]) {
          e.classList.add("edge-label");
          e.dataset.from = r.from;
          e.dataset.to = r.to;
        }
      }
    });
  }

  function render() {
    const { steps, at } = state;
    $("counter").textContent = `step ${at} of ${steps.length}`;
    $("back").disabled = at === 0;
    $("next").disabled = at === steps.length;
    const shownValue = new Set(), shownGrad = new Set(), updated = new Set();
    for (const s of steps.slice(0, at)) {
      if (s.phase === "forward") shownValue.add(s.id);
      if (s.phase === "backward") shownGrad.add(s.id);
      if (s.phase === "update") updated.add(s.id);
    }
    const cur = at > 0 ? steps[at - 1] : null;
    const sources = new Set();
    if (cur && cur.phase === "backward") {
      const node = state.nodes.get(cur.id);
      for (const inc of node ? node.info.incoming || [] : []) sources.add(inc.from);
    }
    if (cur && cur.phase === "forward") {
      const node = state.nodes.get(cur.id);
      for (const i of node ? node.info.inputs || [] : []) sources.add(i);
    }
    for (const [id, { g, info }] of state.nodes) {
      const hasValue = shownValue.has(id) || shownGrad.has(id) || updated.has(id);
      g.classList.toggle("shown", hasValue);
      g.classList.toggle("has-grad", shownGrad.has(id));
      g.classList.toggle("updated", updated.has(id));
      g.classList.toggle("current", !!cur && cur.id === id);
      g.classList.toggle("source", sources.has(id));
      if (hasValue) g.setAttribute("data-value", full(info.value));
      else g.removeAttribute("data-value");
      if (shownGrad.has(id) && info.grad !== undefined && info.grad !== null) g.setAttribute("data-grad", full(info.grad));
      else g.removeAttribute("data-grad");
    }
    const svg = $("graph").querySelector("svg");
    if (svg) {
      for (const e of svg.querySelectorAll("path.edge, .edge-label")) {
        const from = +e.dataset.from, to = +e.dataset.to;
        const backward = e.classList.contains("backward") || e.classList.contains("edge-label");
        e.classList.toggle("off", backward && !shownGrad.has(to));
        const hot = !!cur && ((cur.phase === "backward" && backward && to === cur.id) || (cur.phase === "forward" && !backward && to === cur.id));
        e.classList.toggle("hot", hot);
        void from;
      }
    }
    renderCurrent(cur);
    renderLog();
    // On a narrow screen the graph scrolls sideways: bring the current node in.
    const holder = $("graph");
    const node = cur && state.nodes.get(cur.id);
    if (node && holder.scrollWidth > holder.clientWidth) {
      const box = node.g.getBoundingClientRect(), view = holder.getBoundingClientRect();
      if (box.left < view.left || box.right > view.right) holder.scrollLeft += box.left - view.left - (view.width - box.width) / 2;
    }
    const done = at === steps.length;
    const summary = $("summary");
    summary.innerHTML = "";
    if (done) for (const line of state.data.report.outro) summary.appendChild(el("p", null, line));
  }

  const phaseText = { forward: "Forward pass", backward: "Backward pass (chain rule)", update: "Gradient-descent update" };

  function renderCurrent(cur) {
    const box = $("current");
    box.innerHTML = "";
    $("phase").textContent = cur ? phaseText[cur.phase] : "Start: press Next or → to run the forward pass";
    $("phase").className = "phase " + (cur ? cur.phase : "");
    if (!cur) return;
    const r = cur.row;
    box.appendChild(el("div", "what", `${r.node} — ${r.what}`));
    let formula;
    if (!r.formula || r.formula === r.node) formula = `${r.node} = ${r.value}`;
    else if (r.formula.includes("=")) formula = `${r.formula} = ${r.value}`;
    else formula = `${r.node} = ${r.formula} = ${r.value}`;
    box.appendChild(el("div", "formula", formula));
    const node0 = state.nodes.get(cur.id);
    if (cur.phase === "forward" && node0 && (node0.info.inputs || []).length) {
      const parts = node0.info.inputs.map((i) => state.nodes.get(i)).filter(Boolean).map((n) => `${n.info.name} = ${full(n.info.value)}`);
      box.appendChild(el("div", "inputs", "with " + parts.join(", ")));
    }
    for (const sub of cur.subs) box.appendChild(el("div", "path", `↳ ${sub.node}: ${sub.formula} = ${sub.value}`));
    const node = state.nodes.get(cur.id);
    if (node) {
      const v = cur.phase === "backward" ? node.info.grad : node.info.value;
      box.appendChild(el("div", "exact", (cur.phase === "backward" ? "gradient " : "value ") + full(v)));
    }
  }

  function renderLog() {
    const log = $("log");
    log.innerHTML = "";
    state.steps.slice(0, state.at).forEach((s, i) => {
      const li = el("li", "log-" + s.phase + (i === state.at - 1 ? " now" : ""));
      const r = s.row;
      li.appendChild(el("span", "log-node", r.node));
      li.appendChild(el("span", "log-formula", r.formula || ""));
      li.appendChild(el("span", "log-value", r.value));
      log.appendChild(li);
    });
    // Keep the newest row in view, scrolling the list only (never the page).
    const now = log.querySelector(".now");
    if (now) {
      const top = now.offsetTop;
      if (top + now.offsetHeight > log.scrollTop + log.clientHeight) log.scrollTop = top + now.offsetHeight - log.clientHeight;
      else if (top < log.scrollTop) log.scrollTop = top;
    }
  }

  function renderChecks() {
    const on = $("check").checked;
    const box = $("checks");
    box.hidden = !on;
    if (!on) return;
    box.innerHTML = "";
    const rows = state.data ? state.data.check : null;
    if (!rows || !rows.length) {
      box.appendChild(el("p", null, "No gradient check for this subject (a model file, or several MSE outputs)."));
      return;
    }
    const table = el("table");
    const head = el("tr");
    for (const h of ["", "analytical", "numerical", "rel. error", "verdict"]) head.appendChild(el("th", null, h));
    table.appendChild(head);
    for (const c of rows) {
      const tr = el("tr", "verdict-" + c.verdict);
      tr.dataset.check = c.name;
      tr.appendChild(el("td", null, c.name));
      tr.appendChild(el("td", "num", full(c.analytic)));
      tr.appendChild(el("td", "num", full(c.numeric)));
      tr.appendChild(el("td", "num", c.rel_error.toExponential(1)));
      tr.appendChild(el("td", "verdict", c.verdict));
      table.appendChild(tr);
    }
    box.appendChild(table);
    box.appendChild(el("p", "note", "Central differences, step 1e-6. Relative error below 1e-5: correct; 1e-5 to 1e-3: look closer; above 1e-3: a bug."));
  }

  // A run's training step: what the numbers are, and the way to the
  // steps and rows beside it.
  function renderContext(t) {
    const box = $("context");
    box.hidden = false;
    box.innerHTML = "";
    const run = encodeURIComponent(t.run);
    const link = (text, step, row) => {
      const a = el("a", null, text);
      a.href = `/explore?model=${run}&train_step=${step}&batch_row=${row}` + ($("check").checked ? "&check=1" : "");
      return a;
    };
    const head = el("p");
    head.appendChild(el("strong", null, `Run ${t.run}, step ${t.step} (epoch ${t.epoch}), row ${t.batch_row} of its batch of ${t.batch_size}`));
    head.appendChild(document.createTextNode(` (training row ${t.training_row})`));
    box.appendChild(head);
    box.appendChild(el("p", "before", `These are the weights before step ${t.step}'s update: the weights the trainer computed step ${t.step}'s loss with, replayed exactly from ${t.replayed_from}.`));
    const loss = el("p", "recorded");
    loss.dataset.recordedLoss = String(t.recorded_loss);
    loss.textContent = t.batch_size === 1
      ? `The trainer recorded loss ${t.recorded_loss} for this step; its batch is this one row, so the loss below is that loss (computed here in f64 on the run's f32 numbers).`
      : `The trainer recorded loss ${t.recorded_loss} for this step, the mean over its ${t.batch_size} rows; the loss below is this row's alone.`;
    box.appendChild(loss);
    box.appendChild(el("p", "muted", `The update at the end is plain gradient descent with lr ${param("lr") || t.run_lr}; the run itself stepped with ${t.optimizer} (lr ${t.run_lr}).`));
    const nav = el("p", "nav");
    if (t.step > 1) nav.appendChild(link(`← step ${t.step - 1}`, t.step - 1, 0));
    if (t.step < t.run_steps) nav.appendChild(link(`step ${t.step + 1} →`, t.step + 1, 0));
    if (t.batch_row > 0) nav.appendChild(link(`← row ${t.batch_row - 1}`, t.step, t.batch_row - 1));
    if (t.batch_row + 1 < t.batch_size) nav.appendChild(link(`row ${t.batch_row + 1} →`, t.step, t.batch_row + 1));
    const back = el("a", null, "the run's page");
    back.href = `/runs/${run}`;
    nav.appendChild(back);
    box.appendChild(nav);
  }

  function go(to) {
    state.at = Math.max(0, Math.min(state.steps.length, to));
    setParam("step", String(state.at === state.steps.length && state.at > 0 ? "last" : state.at));
    render();
  }

  function wire() {
    $("next").addEventListener("click", () => go(state.at + 1));
    $("back").addEventListener("click", () => go(state.at - 1));
    $("check").addEventListener("change", () => {
      setParam("check", $("check").checked ? "1" : null);
      renderChecks();
    });
    document.addEventListener("keydown", (e) => {
      if (e.target && (e.target.tagName === "INPUT" || e.target.tagName === "TEXTAREA")) return;
      if (e.altKey || e.ctrlKey || e.metaKey) return;
      const moves = { ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1 };
      if (e.key in moves) go(state.at + moves[e.key]);
      else if (e.key === "Home") go(0);
      else if (e.key === "End") go(state.steps.length);
      else return;
      e.preventDefault();
    });
    $("subject").addEventListener("submit", (e) => {
      e.preventDefault();
      const expr = $("expr").value.trim();
      const at = $("at").value.trim();
      if (!expr) return;
      location.href = "/explore?expr=" + encodeURIComponent(expr) + (at ? "&at=" + encodeURIComponent(at) : "");
    });
  }

  async function load() {
    wire();
    $("expr").value = param("expr") || "";
    $("at").value = param("at") || "";
    $("check").checked = param("check") === "1";
    let res;
    try {
      res = await fetch("/api/explore" + location.search);
    } catch (e) {
      showError("The server cannot be reached: " + e);
      return;
    }
    const data = await res.json();
    if (!res.ok) {
      showError(`${data.setting ? data.setting + ": " : ""}${data.error}`);
      return;
    }
    state.data = data;
    document.title = "chainrule · " + data.title;
    $("title").textContent = data.title;
    if (data.kind === "expression") {
      $("expr").value = data.explain.expression;
      $("at").value = Object.entries(data.explain.at).map(([k, v]) => `${k}=${v}`).join(",");
    }
    if (data.train_step) renderContext(data.train_step);
    prepareGraph(data);
    state.steps = buildSteps(data.report);
    const step = param("step");
    const n = step === "last" ? state.steps.length : parseInt(step || "0", 10);
    state.at = Math.max(0, Math.min(state.steps.length, Number.isFinite(n) ? n : 0));
    document.body.dataset.steps = String(state.steps.length);
    render();
    renderChecks();
    document.body.dataset.ready = "1";
  }

  load();
})();
