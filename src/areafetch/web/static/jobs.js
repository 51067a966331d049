"use strict";
(() => {
  const { text, row } = areafetch;
  const seconds = (ms) => (ms == null ? "" : (ms / 1000).toFixed(1) + " s");

  function actions(queue, job) {
    const cell = document.createElement("td");
    const add = (label, verb) => {
      const button = text("button", label); button.type = "button";
      button.setAttribute("aria-label", `${label} job ${job.id}`);
      button.addEventListener("click", async () => {
        const response = await areafetch.api(`/api/jobs/${encodeURIComponent(job.id)}/${verb}`, { method: "POST" });
        document.getElementById("error").textContent = response.ok ? "" : (await response.json()).detail;
        refresh();
      });
      cell.append(button, " ");
    };
    if (job.state === "failed") add("Retry", "retry");
    if (["waiting", "delayed", "prioritized"].includes(job.state)) add("Cancel", "cancel");
    return cell;
  }

  async function refresh() {
    let data;
    try {
      const response = await areafetch.api("/api/queues");
      if (!response.ok) throw new Error((await response.json()).detail);
      data = await response.json();
    } catch (e) { document.getElementById("error").textContent = "Cannot load the queues: " + e.message; return; }
    const states = Object.keys(data.queues[0].counts);
    const head = row([]); head.append(text("th", "Queue")); states.forEach((s) => head.append(text("th", s)));
    document.querySelector("#counts thead").replaceChildren(head);
    document.querySelector("#counts tbody").replaceChildren(...data.queues.map((q) => row([q.name, ...states.map((s) => q.counts[s])])));
    document.querySelector("#recent tbody").replaceChildren(...data.queues.flatMap((q) => q.recent.map((job) =>
      row([q.name, job.id, job.name, job.state, typeof job.progress === "object" ? JSON.stringify(job.progress) : job.progress,
        job.attempts, seconds(job.duration_ms), job.failed_reason || "", actions(q.name, job)]))));
    document.querySelector("#limiters tbody").replaceChildren(...data.limiters.map((l) =>
      row([l.name, l.next_slot_in_s.toFixed(2) + " s", `${l.in_flight} / ${l.max_in_flight}`, l.paused_until || "—",
        l.requests_today, l.requests_left == null ? "no budget" : l.requests_left])));
    document.querySelector("#workers tbody").replaceChildren(...(data.workers.length ? data.workers.map((w) =>
      row([w.name, w.address, w.age_s + " s", w.queues.join(", ")])) : [row(["no worker connected", "", "", ""])]));
    document.getElementById("updated").textContent = "Updated " + new Date().toLocaleTimeString();
  }

  document.getElementById("refresh").addEventListener("click", refresh);
  refresh();
  setInterval(refresh, 3000);
})();
