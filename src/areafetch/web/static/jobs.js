"use strict";
(() => {
  const { text, row } = areafetch;
  const seconds = (ms) => (ms == null ? "" : (ms / 1000).toFixed(1) + " s");
  const say = (message) => { document.getElementById("error").textContent = message; };
  const jobLink = (id) => { const cell = document.createElement("td"); const a = text("a", id); a.href = `/jobs/${encodeURIComponent(id)}`; cell.append(a); return cell; };

  async function post(url) {
    const response = await areafetch.api(url, { method: "POST" });
    const body = await response.json();
    say(response.ok ? "" : body.detail);
    return response.ok ? body : null;
  }

  function button(label, accessible, onClick) {
    const element = text("button", label); element.type = "button";
    element.setAttribute("aria-label", accessible);
    element.addEventListener("click", onClick);
    return element;
  }

  function jobActions(job) {
    const cell = document.createElement("td");
    const add = (label, verb) => cell.append(button(label, `${label} job ${job.id}`, async () => {
      await post(`/api/jobs/${encodeURIComponent(job.id)}/${verb}`); refresh();
    }), " ");
    if (job.state === "failed") add("Retry", "retry");
    if (["waiting", "delayed", "prioritized"].includes(job.state)) add("Cancel", "cancel");
    return cell;
  }

  function queueActions(queue) {
    const cell = document.createElement("td");
    const bulk = (label, verb, question, report) => cell.append(button(label, `${label} of ${queue.name}`, async () => {
      if (question && !window.confirm(question)) return;
      const changed = await post(`/api/queues/${queue.name}/${verb}`);
      if (changed) document.getElementById("action-result").textContent = report(changed);
      refresh();
    }), " ");
    if (queue.paused) bulk("Resume", "resume", null, () => `${queue.name} resumed`);
    else bulk("Pause", "pause", `Pause ${queue.name}? Workers take no new job from it until it is resumed.`, () => `${queue.name} paused`);
    if (queue.counts.failed) {
      bulk("Retry failed", "retry-failed", `Retry all ${queue.counts.failed} failed jobs of ${queue.name}?`, (c) => `${c.retried} failed jobs of ${queue.name} retried`);
      bulk("Clean failed", "clean-failed", `Delete all ${queue.counts.failed} failed jobs of ${queue.name}? This cannot be undone.`, (c) => `${c.removed} failed jobs of ${queue.name} deleted`);
    }
    return cell;
  }

  /* A line chart of several series over the same minutes, as inline SVG (no library needed). */
  const palette = ["#1565c0", "#d32f2f", "#388e3c", "#f57c00", "#7b1fa2", "#0097a7"];
  function chart(element, minutes, series) {
    const names = Object.keys(series);
    if (!names.length) { element.replaceChildren(text("p", "Nothing counted in the last hour.")); return; }
    const width = 600, height = 160, pad = 24;
    const top = Math.max(1, ...names.flatMap((n) => series[n]));
    const x = (i) => pad + (i * (width - 2 * pad)) / Math.max(1, minutes.length - 1);
    const y = (v) => height - pad - (v * (height - 2 * pad)) / top;
    const ns = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", `0 0 ${width} ${height}`); svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", names.map((n) => `${n}: ${series[n].reduce((a, b) => a + b, 0)} in the hour`).join("; "));
    const legend = document.createElement("ul"); legend.className = "legend";
    names.forEach((name, index) => {
      const line = document.createElementNS(ns, "polyline");
      line.setAttribute("points", series[name].map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(" "));
      line.setAttribute("fill", "none"); line.setAttribute("stroke", palette[index % palette.length]); line.setAttribute("stroke-width", "2");
      line.dataset.series = name;
      svg.append(line);
      const item = text("li", `${name} (${series[name].reduce((a, b) => a + b, 0)})`); item.style.color = palette[index % palette.length];
      legend.append(item);
    });
    const label = document.createElementNS(ns, "text"); label.setAttribute("x", "2"); label.setAttribute("y", "12"); label.textContent = String(top);
    svg.append(label);
    element.replaceChildren(svg, legend);
  }

  async function charts() {
    const response = await areafetch.api("/api/queues/history?minutes=60");
    if (!response.ok) return;
    const history = await response.json();
    const pick = (prefix) => Object.fromEntries(Object.entries(history.series).filter(([n]) => n.startsWith(prefix)).map(([n, v]) => [n.slice(prefix.length), v]));
    chart(document.getElementById("jobs-chart"), history.minutes, pick("jobs:"));
    chart(document.getElementById("upstream-chart"), history.minutes, pick("upstream:"));
  }

  let cursor = 0;
  async function search(more) {
    const form = new FormData(document.getElementById("search"));
    const params = new URLSearchParams({ limit: "50", cursor: String(more ? cursor : 0) });
    for (const key of ["state", "name", "q"]) if (form.get(key)) params.set(key, form.get(key));
    const response = await areafetch.api(`/api/queues/${form.get("queue")}/jobs?${params}`);
    const page = await response.json();
    if (!response.ok) { say(typeof page.detail === "string" ? page.detail : page.detail.map((e) => `${e.loc.join(".")}: ${e.msg}`).join("; ")); return; }
    say("");
    const rows = page.jobs.map((job) => row([jobLink(job.id), job.name, job.state, job.attempts, job.created_at, job.failed_reason || ""]));
    const body = document.querySelector("#found tbody");
    if (more) body.append(...rows); else body.replaceChildren(...rows);
    document.getElementById("found").hidden = false;
    document.getElementById("found-note").textContent = `(${body.children.length} shown; ${page.scanned} looked at)`;
    cursor = page.next_cursor ?? 0;
    document.getElementById("more").hidden = page.next_cursor == null;
  }

  async function refresh() {
    let data;
    try {
      const response = await areafetch.api("/api/queues");
      if (!response.ok) throw new Error((await response.json()).detail);
      data = await response.json();
    } catch (e) { say("Cannot load the queues: " + e.message); return; }
    const states = Object.keys(data.queues[0].counts);
    const head = row([]); head.append(text("th", "Queue"), text("th", "Paused")); states.forEach((s) => head.append(text("th", s))); head.append(text("th", "Actions"));
    document.querySelector("#counts thead").replaceChildren(head);
    document.querySelector("#counts tbody").replaceChildren(...data.queues.map((q) =>
      row([q.name, q.paused ? "paused" : "no", ...states.map((s) => q.counts[s]), queueActions(q)])));
    document.querySelector("#recent tbody").replaceChildren(...data.queues.flatMap((q) => q.recent.map((job) =>
      row([q.name, jobLink(job.id), job.name, job.state, typeof job.progress === "object" ? JSON.stringify(job.progress) : job.progress,
        job.attempts, seconds(job.duration_ms), job.failed_reason || "", jobActions(job)]))));
    document.querySelector("#limiters tbody").replaceChildren(...data.limiters.map((l) =>
      row([l.name, l.next_slot_in_s.toFixed(2) + " s", `${l.in_flight} / ${l.max_in_flight}`, l.paused_until || "—",
        l.requests_today, l.requests_left == null ? "no budget" : l.requests_left])));
    document.querySelector("#workers tbody").replaceChildren(...(data.workers.length ? data.workers.map((w) =>
      row([w.name, w.address, w.age_s + " s", w.queues.join(", ")])) : [row(["no worker connected", "", "", ""])]));
    document.getElementById("updated").textContent = "Updated " + new Date().toLocaleTimeString();
    charts();
  }

  document.getElementById("refresh").addEventListener("click", refresh);
  document.getElementById("search").addEventListener("submit", (event) => { event.preventDefault(); search(false); });
  document.getElementById("more").addEventListener("click", () => search(true));
  refresh();
  setInterval(refresh, 3000);
})();
