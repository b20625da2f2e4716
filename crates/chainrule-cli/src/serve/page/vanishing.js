// /vanishing: the chain of Example 3, re-measured as the controls change.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const form = $("chain");
  const fmt = (v) => (v === null || v === undefined ? "–" : Math.abs(v) >= 1e-3 && Math.abs(v) < 1e4 ? v.toPrecision(4) : v.toExponential(2));
  let seq = 0;

  async function update() {
    $("depth-out").textContent = $("depth").value;
    const query = new URLSearchParams(new FormData(form)).toString();
    history.replaceState(null, "", "/vanishing?" + query);
    const mine = ++seq;
    const res = await fetch("/api/vanishing?" + query);
    const data = await res.json();
    if (mine !== seq) return;
    $("error").hidden = res.ok;
    if (!res.ok) {
      $("error").textContent = `${data.setting ? data.setting + ": " : ""}${data.error}`;
      return;
    }
    const verdicts = new Map((data.layers || []).map((l) => [l.layer, l]));
    const box = $("bars");
    box.innerHTML = "";
    // The unit nearest the output first: the gradient flows down the page.
    for (const c of [...data.chain].reverse()) {
      const g = c.cumulative;
      const frac = g > 0 ? Math.min(1, Math.max(0.01, (Math.log10(g) + 12) / 13)) : 0.01;
      const v = verdicts.get(c.layer);
      const verdict = v ? v.verdict : "";
      const row = document.createElement("div");
      row.className = "flow-row verdict-" + verdict.replace(/[^a-z]/g, "");
      row.dataset.layer = c.layer;
      row.dataset.cumulative = String(g);
      const name = document.createElement("span");
      name.className = "flow-name";
      name.textContent = `unit ${c.layer} · factor ${fmt(c.local_factor)}`;
      const bar = document.createElement("span");
      bar.className = "flow-bar";
      const fill = document.createElement("span");
      fill.className = "flow-fill";
      fill.style.width = (100 * frac).toFixed(1) + "%";
      bar.appendChild(fill);
      const value = document.createElement("span");
      value.className = "flow-value";
      value.textContent = `${fmt(g)}${verdict ? " · " + verdict : ""}`;
      if (v && v.reason) row.title = v.reason;
      row.append(name, bar, value);
      box.appendChild(row);
    }
    const first = data.chain[0];
    $("summary").textContent = first
      ? `The first unit gets ${fmt(first.cumulative)} of the output's gradient (local factor ${fmt(first.local_factor)} per unit, ${data.chain.length} units).`
      : "";
    document.body.dataset.ready = "1";
  }

  const params = new URLSearchParams(location.search);
  for (const [k, v] of params) if (form.elements[k]) form.elements[k].value = v;
  form.addEventListener("input", update);
  form.addEventListener("change", update);
  form.addEventListener("submit", (e) => { e.preventDefault(); update(); });
  update();
})();
