// /train: the form that starts a run; /runs: the list of runs.
"use strict";

(function () {
  const form = document.getElementById("train");
  // Hidden layers or an architecture: the other's fields are disabled, so
  // the form sends one of them (as the command line takes one).
  function showNetwork() {
    const arch = form.querySelector("input[name=network][value=arch]").checked;
    form.querySelector(".network-arch").hidden = !arch;
    form.querySelector(".network-hidden").hidden = arch;
    form.querySelector("input[name=arch]").disabled = !arch;
    form.querySelector("input[name=hidden]").disabled = arch;
    form.querySelector("select[name=activation]").disabled = arch;
  }
  if (form) {
    for (const r of form.querySelectorAll("input[name=network]")) r.addEventListener("change", showNetwork);
    showNetwork();
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const box = document.getElementById("error");
      box.hidden = true;
      document.getElementById("start").disabled = true;
      const body = new URLSearchParams(new FormData(form));
      body.delete("network");
      const res = await fetch("/api/train", { method: "POST", body });
      const data = await res.json();
      if (!res.ok) {
        box.textContent = `${data.setting ? data.setting + ": " : ""}${data.error}`;
        box.hidden = false;
        document.getElementById("start").disabled = false;
        return;
      }
      location.href = data.url;
    });
  }
  const table = document.getElementById("runs");
  if (table) {
    fetch("/api/runs").then((r) => r.json()).then((data) => {
      const body = table.querySelector("tbody");
      for (const run of data.runs) {
        const tr = document.createElement("tr");
        const cell = (text) => { const td = document.createElement("td"); td.textContent = text; tr.appendChild(td); return td; };
        const a = document.createElement("a");
        a.href = run.url;
        a.textContent = run.name;
        cell("").appendChild(a);
        cell(String(run.epochs_done));
        cell(run.test_accuracy === null ? "" : (100 * run.test_accuracy).toFixed(2) + "%");
        cell(run.live ? "live" : "").className = run.live ? "badge live" : "";
        body.appendChild(tr);
      }
      document.getElementById("empty").hidden = data.runs.length > 0;
      document.body.dataset.ready = "1";
    });
  }
})();
