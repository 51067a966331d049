"use strict";
(() => {
  const { text, row } = areafetch;
  const jobId = document.getElementById("job").dataset.jobId;
  const pretty = (value) => (value == null ? "—" : typeof value === "string" ? value : JSON.stringify(value, null, 2));
  const ms = (value) => (value == null ? "—" : value < 1000 ? `${value} ms` : `${(value / 1000).toFixed(1)} s`);

  async function act(verb) {
    const response = await areafetch.api(`/api/jobs/${encodeURIComponent(jobId)}/${verb}`, { method: "POST" });
    document.getElementById("error").textContent = response.ok ? "" : (await response.json()).detail;
    show();
  }

  async function show() {
    const response = await areafetch.api(`/api/jobs/${encodeURIComponent(jobId)}/detail`);
    const job = await response.json();
    if (!response.ok) { document.getElementById("error").textContent = job.detail; return; }
    const facts = [
      ["Queue", job.queue], ["Name", job.name], ["State", job.state],
      ["Attempts", `${job.attempts_made} of ${job.max_attempts}`], ["Progress", pretty(job.progress)],
      ["Created", job.created_at], ["Started", job.processed_at || "—"], ["Finished", job.finished_at || "—"],
      ["Waited", ms(job.waited_ms)], ["Ran", ms(job.ran_ms)], ["Parent", job.parent || "—"],
    ];
    document.querySelector("#facts tbody").replaceChildren(...facts.map(([name, value]) => {
      const tr = row([value]); tr.prepend(text("th", name)); tr.firstChild.scope = "row"; return tr;
    }));
    document.getElementById("data").textContent = pretty(job.data);
    document.getElementById("result").textContent = pretty(job.result);
    document.getElementById("failure").textContent =
      job.failed_reason ? [job.failed_reason, ...job.stacktrace].join("\n\n") : "—";
    document.getElementById("logs").replaceChildren(...job.logs.map((line) => text("li", line)));
    document.getElementById("logs-count").textContent = `(${job.logs_total})`;
    document.getElementById("options").textContent = pretty(job.options);
    document.getElementById("retry").hidden = job.state !== "failed";
    document.getElementById("cancel").hidden = !["waiting", "delayed", "prioritized"].includes(job.state);
  }

  document.getElementById("retry").addEventListener("click", () => act("retry"));
  document.getElementById("cancel").addEventListener("click", () => act("cancel"));
  show();
})();
