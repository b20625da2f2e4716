// /runs/NAME: a run's loss curve, epochs and gradient flow, live from
// server-sent events while it trains, else from its metrics.json.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const name = decodeURIComponent(location.pathname.split("/").pop());
  const run = { steps: [], epochs: [], total: null, state: "loading" };

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  const fmt = (v) => (v === null || v === undefined ? "" : Math.abs(v) >= 1e-3 && Math.abs(v) < 1e4 ? v.toPrecision(4) : v.toExponential(2));

  function setState(s) {
    run.state = s;
    if (run.steps.length) drawCurve();
    const link = $("explore");
    link.hidden = s !== "finished";
    link.href = `/explore?model=${encodeURIComponent(name)}&row=0`;
    $("state").textContent = s;
    $("state").className = "badge " + s;
    document.body.dataset.state = s;
  }

  // The curve's geometry, shared by drawing and clicking.
  const curve = { w: 640, h: 240, pad: 52 };
  const stepX = (i, n) => curve.pad + (i / Math.max(n - 1, 1)) * (curve.w - curve.pad - 8);

  // The explorer on step `step`'s weights (before its update), row 0 of its batch.
  const stepUrl = (step) => `/explore?model=${encodeURIComponent(name)}&train_step=${step}&batch_row=0`;
  // Steps open in the explorer once the run has finished (the server
  // replays the run to the step and checks it against metrics.json).
  const steppable = () => run.state === "finished";

  function drawCurve() {
    const { w, h, pad } = curve;
    const steps = run.steps.filter((s) => Number.isFinite(s.loss));
    const raw = steps.map((s) => s.loss);
    let ys = raw;
    if ($("smooth").checked) {
      let m = null;
      ys = raw.map((v) => (m = m === null ? v : 0.9 * m + 0.1 * v));
    }
    const holder = $("curve");
    if (!ys.length) { holder.textContent = "No steps yet."; return; }
    const lo = Math.min(...ys), hi = Math.max(...ys);
    const span = hi - lo || 1;
    const y = (v) => 8 + (1 - (v - lo) / span) * (h - pad - 8);
    const pts = ys.map((v, i) => `${stepX(i, ys.length).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
    holder.innerHTML = `<svg viewBox="0 0 ${w} ${h}" role="img" aria-label="loss per step">
      <line x1="${pad}" y1="${h - pad}" x2="${w - 8}" y2="${h - pad}" class="axis"/>
      <line x1="${pad}" y1="8" x2="${pad}" y2="${h - pad}" class="axis"/>
      <text x="4" y="16" class="tick">${fmt(hi)}</text><text x="4" y="${h - pad}" class="tick">${fmt(lo)}</text>
      <text x="${pad}" y="${h - 12}" class="tick">step ${steps[0].step}</text><text x="${w - 8}" y="${h - 12}" class="tick" text-anchor="end">step ${steps[steps.length - 1].step}</text>
      <polyline points="${pts}" class="loss-line"/>
      <g class="pick" style="display: none"><line class="pick-line" y1="8" y2="${h - pad}"/><circle class="pick-dot" r="4"/><text class="pick-text" y="${h - 30}"></text></g>
      <rect class="hit" x="${pad}" y="0" width="${w - pad}" height="${h - pad}" fill="transparent"/></svg>`;
    const svg = holder.querySelector("svg");
    svg.classList.toggle("steppable", steppable());
    const hit = svg.querySelector("rect.hit"), pick = svg.querySelector("g.pick");
    // The step under a pointer: the nearest point of the curve.
    const at = (ev) => {
      const box = svg.getBoundingClientRect();
      const x = ((ev.clientX - box.left) / box.width) * w;
      const i = Math.round(((x - pad) / (w - pad - 8)) * Math.max(ys.length - 1, 1));
      return Math.max(0, Math.min(ys.length - 1, i));
    };
    hit.addEventListener("pointermove", (ev) => {
      const i = at(ev), x = stepX(i, ys.length);
      pick.style.display = "";
      pick.querySelector("line").setAttribute("x1", x);
      pick.querySelector("line").setAttribute("x2", x);
      pick.querySelector("circle").setAttribute("cx", x);
      pick.querySelector("circle").setAttribute("cy", y(ys[i]));
      const t = pick.querySelector("text");
      t.textContent = `step ${steps[i].step}: loss ${fmt(raw[i])}${steppable() ? " · click to explore" : ""}`;
      t.setAttribute("x", x);
      t.setAttribute("text-anchor", x > w / 2 ? "end" : "start");
    });
    hit.addEventListener("pointerleave", () => { pick.style.display = "none"; });
    hit.addEventListener("click", (ev) => {
      if (steppable()) location.href = stepUrl(steps[at(ev)].step);
    });
    $("step-form").hidden = !steppable();
    $("step-input").max = String(steps[steps.length - 1].step);
  }

  function drawEpochs() {
    const body = $("epochs").querySelector("tbody");
    body.innerHTML = "";
    for (const e of run.epochs) {
      const tr = el("tr");
      tr.dataset.epoch = e.epoch;
      tr.appendChild(el("td", null, String(e.epoch)));
      tr.appendChild(el("td", "num", fmt(e.train_loss)));
      tr.appendChild(el("td", "num", fmt(e.test_loss)));
      tr.appendChild(el("td", "num", e.test_accuracy === null || e.test_accuracy === undefined ? "" : (100 * e.test_accuracy).toFixed(2) + "%"));
      tr.addEventListener("click", () => drawFlow(e));
      body.appendChild(tr);
    }
    const last = run.epochs[run.epochs.length - 1];
    $("epoch").textContent = `epoch ${last ? last.epoch : 0}${run.total ? " of " + run.total : ""}`;
    $("accuracy").textContent = last && last.test_accuracy !== null && last.test_accuracy !== undefined ? `test accuracy ${(100 * last.test_accuracy).toFixed(2)}%` : "";
    if (last) drawFlow(last);
  }

  // One bar per layer: the gradient norm on a log scale (1e-8 … 1e2).
  function drawFlow(e) {
    const layers = e.grad_report;
    if (!layers || !layers.length) return;
    $("flow-epoch").textContent = `after epoch ${e.epoch}`;
    const box = $("flow");
    box.innerHTML = "";
    for (const l of layers) {
      const g = l.grad_norm;
      const frac = g > 0 ? Math.min(1, Math.max(0.02, (Math.log10(g) + 8) / 10)) : 0.02;
      const row = el("div", "flow-row verdict-" + String(l.verdict).replace(/[^a-z]/g, ""));
      row.dataset.layer = l.layer;
      row.appendChild(el("span", "flow-name", `${l.layer}. ${l.text}`));
      const bar = el("span", "flow-bar");
      const fill = el("span", "flow-fill");
      fill.style.width = (100 * frac).toFixed(1) + "%";
      bar.appendChild(fill);
      row.appendChild(bar);
      row.appendChild(el("span", "flow-value", `‖∇W‖ ${fmt(g)} · ${l.verdict}`));
      if (l.reason) row.title = l.reason;
      box.appendChild(row);
    }
  }

  function apply(ev) {
    if (ev.type === "start") {
      run.total = ev.epochs;
      const st = ev.settings;
      const net = st.arch ? st.arch : `hidden ${st.hidden}, ${st.activation}`;
      $("title").textContent = `${name}: ${st.data}, ${net}, ${st.optimizer} lr ${st.lr}`;
      setState("training");
    } else if (ev.type === "step") {
      run.steps.push(ev);
      if (!pending) { pending = true; requestAnimationFrame(() => { pending = false; drawCurve(); }); }
    } else if (ev.type === "epoch") {
      run.epochs.push(ev);
      drawEpochs();
      drawCurve();
    } else if (ev.type === "finish") {
      setState("finished");
    } else if (ev.type === "stopped") {
      setState("stopped");
    } else if (ev.type === "error") {
      setState("failed");
      $("error").textContent = ev.message || "the trainer failed";
      $("error").hidden = false;
    } else if (ev.type === "end") {
      if (run.state === "training" || run.state === "waiting") setState(ev.reason === "stopped from the page" ? "stopped" : "ended");
      $("stop").hidden = true;
      source.close();
    }
  }
  let pending = false;
  let source = null;

  async function load() {
    $("smooth").addEventListener("change", drawCurve);
    $("step-form").addEventListener("submit", (e) => {
      e.preventDefault();
      const n = parseInt($("step-input").value, 10);
      if (Number.isInteger(n) && n >= 1) location.href = stepUrl(n);
    });
    $("stop").addEventListener("click", async () => {
      $("stop").disabled = true;
      await fetch(`/api/runs/${encodeURIComponent(name)}/stop`, { method: "POST" });
    });
    $("title").textContent = name;
    const res = await fetch(`/api/runs/${encodeURIComponent(name)}`);
    const info = await res.json();
    if (!res.ok) {
      $("error").textContent = info.error;
      $("error").hidden = false;
      setState("missing");
      return;
    }
    $("stop").hidden = !info.stoppable;
    if (info.live) {
      setState(info.streaming ? "waiting" : "ended");
      source = new EventSource(`/api/runs/${encodeURIComponent(name)}/events`);
      source.onmessage = (m) => apply(JSON.parse(m.data));
      source.onerror = () => source.close();
    } else if (info.metrics) {
      run.steps = info.metrics.steps || [];
      run.epochs = info.metrics.epochs || [];
      // Older metrics.json files do not record the planned epochs.
      run.total = Number.isInteger(info.metrics.epochs_planned) ? info.metrics.epochs_planned : null;
      setState("finished");
      drawEpochs();
      drawCurve();
    } else {
      setState("empty");
    }
    document.body.dataset.ready = "1";
  }
  load();
})();
