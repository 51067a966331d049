"use strict";
(() => {
  const root = document.getElementById("area");
  const areaId = root.dataset.areaId;
  const googleOnMap = root.dataset.googleDisplay !== "list";  // the EEA terms: Google places not on a non-Google map
  const labels = JSON.parse(root.dataset.categories);
  const palette = ["#d32f2f", "#1976d2", "#388e3c", "#f57c00", "#7b1fa2", "#0097a7", "#c2185b", "#5d4037", "#455a64", "#afb42b"];
  const colour = (category) => palette[Math.max(Object.keys(labels).indexOf(category), 0) % palette.length];
  const map = areafetch.makeMap(document.getElementById("map"));

  function showProgress(event) {
    const p = event.progress;
    document.getElementById("state").textContent = event.state;
    document.getElementById("failed-reason").textContent = event.failed_reason || "";
    const bar = document.getElementById("progress");
    bar.max = p.tiles_total || 1; bar.value = p.tiles_done;
    document.getElementById("progress-text").textContent = `${p.tiles_done} / ${p.tiles_total} tiles (${p.percent} %)`;
    const body = document.querySelector("#by-source tbody");
    body.replaceChildren(...Object.entries(p.by_source).map(([source, s]) => areafetch.row([source, s.done, s.total])));
  }

  const unfinished = ["queued", "planning", "running"];

  function showActions(area) {
    document.getElementById("cancel").hidden = !unfinished.includes(area.state);
    document.getElementById("retry").hidden = !(["partial", "failed"].includes(area.state) && (area.failed_tiles || []).length);
    const failed = area.failed_tiles || [];
    document.getElementById("failed-tiles").hidden = !failed.length;
    document.querySelector("#failed-tiles tbody").replaceChildren(...failed.map((t) => areafetch.row([t.source, t.tile_id, t.reason])));
  }

  async function act(action) {
    const response = await areafetch.api(`/api/areas/${areaId}/${action}`, { method: "POST" });
    if (response.ok) { window.location.reload(); return; }
    document.getElementById("action-error").textContent = (await response.json()).detail;
  }
  document.getElementById("cancel").addEventListener("click", () => act("cancel"));
  document.getElementById("refresh").addEventListener("click", async () => {
    const response = await areafetch.api(`/api/areas/${areaId}/refresh`, { method: "POST" });
    const body = await response.json();
    if (response.ok) window.location.assign(`/areas/${body.area_id}`);
    else document.getElementById("action-error").textContent = body.detail;
  });

  async function showRuns() {
    const response = await areafetch.api(`/api/areas/${areaId}/runs`);
    if (!response.ok) return;
    const runs = await response.json();
    document.querySelector("#runs tbody").replaceChildren(...runs.map((run) => {
      const link = document.createElement("a"); link.href = `/areas/${run.area_id}`; link.textContent = `run ${run.run}`;
      const cell = document.createElement("td"); cell.append(link);
      return areafetch.row([cell, run.state, run.places_total ?? "-", run.tiles_failed, run.created_at]);
    }));
    const last = [...runs].reverse().find((run) => run.run > 1 && !unfinished.includes(run.state));
    if (!last) return;
    const changes = await (await areafetch.api(`/api/areas/${areaId}/runs/${last.run}/changes`)).json();
    document.getElementById("changes").hidden = false;
    document.getElementById("changes-run").textContent = `${last.run} (since run ${last.run - 1})`;
    const skipped = Object.entries(changes.not_compared).map(([s, n]) => `${n} ${s} places not compared (tiles failed)`);
    document.getElementById("changes-counts").textContent =
      [`${changes.added} added`, `${changes.removed} removed`, `${changes.changed} changed`, ...skipped].join(", ");
    document.getElementById("changes-csv").href = `/api/areas/${areaId}/runs/${last.run}/changes?format=csv`;
    document.querySelector("#changes-table tbody").replaceChildren(...changes.places.slice(0, 200).map((c) =>
      areafetch.row([c.change, c.what.join(", "), c.name || "", c.category, c.source, c.source_id])));
  }
  showRuns();
  document.getElementById("retry").addEventListener("click", () => act("retry"));

  const badgeText = { overpass: "OSM", osm_extract: "OSM extract", google_places: "Google" };
  function badges(sources) {
    const cell = document.createElement("td");
    for (const ref of sources) {
      const badge = areafetch.text("span", badgeText[ref.source] || ref.source);
      badge.className = `badge badge-${ref.source}`;
      badge.title = `${ref.source}: ${ref.source_id}`;
      cell.append(badge);
    }
    return cell;
  }

  function conflationSummary(summary) {
    if (!summary || summary.places_merged == null || Object.keys(summary.places_by_source || {}).length < 2) return "";
    const perSource = Object.entries(summary.places_by_source).map(([s, n]) => `${n} from ${s}`).join(", ");
    const only = Object.entries(summary.places_only_in_source || {}).map(([s, n]) => `${n} only in ${s}`).join(", ");
    return `${summary.places_total} records (${perSource}) are ${summary.places_merged} real places: ` +
      `${summary.places_in_several_sources} in more than one source${only ? ", " + only : ""}.`;
  }

  function placeRow(feature, merged, layer) {
    const props = feature.properties;
    const sources = merged ? props.sources : [{ source: props.source, source_id: props.source_id }];
    const sourceCell = merged ? badges(sources) : props.source;
    const idCell = merged ? (props.match_score == null ? "" : props.match_score.toFixed(2)) : props.source_id;
    if (!feature.geometry) {  // Google content past its retention: only the id is left
      return areafetch.row(["(expired: refresh the area)", props.category, sourceCell, idCell, "", ""]);
    }
    const [lon, lat] = feature.geometry.coordinates;
    const swatch = document.createElement("span"); swatch.className = "swatch"; swatch.style.background = colour(props.category);
    const categoryCell = document.createElement("td"); categoryCell.append(swatch, labels[props.category] || props.category);
    const onlyGoogle = sources.every((ref) => ref.source === "google_places");
    if (layer && (googleOnMap || !onlyGoogle)) L.circleMarker([lat, lon], { radius: 5, color: colour(props.category), fillOpacity: 0.8 })
      .bindTooltip(`${props.name || sources[0].source_id} (${props.category})`).addTo(layer);
    return areafetch.row([props.name || "(no name)", categoryCell, sourceCell, idCell, lat.toFixed(5), lon.toFixed(5)]);
  }

  let layer = null;
  async function showPlaces(area) {
    const merged = area.sources.length > 1 && document.querySelector('input[name="view"]:checked').value === "merged";
    document.getElementById("source-heading").textContent = merged ? "Sources" : "Source";
    document.getElementById("id-heading").textContent = merged ? "Match" : "Id";
    const response = await areafetch.api(`/api/areas/${areaId}/places?limit=10000${merged ? "&view=merged" : ""}`);
    const data = await response.json();
    if (layer) layer.remove();
    layer = map ? L.featureGroup().addTo(map) : null;
    const rows = data.features.map((feature) => placeRow(feature, merged, layer));
    document.querySelector("#places tbody").replaceChildren(...rows);
    document.getElementById("places-count").textContent = `(${rows.length}${data.next_cursor ? "+" : ""})`;
    if (layer && layer.getLayers().length) map.fitBounds(layer.getBounds(), { maxZoom: 17 });
  }

  async function showResults(area) {
    showActions(area);
    showRuns();
    document.getElementById("summary").textContent = area.summary ? JSON.stringify(area.summary, null, 2) : (area.failed_reason || "no summary");
    document.getElementById("conflation-summary").textContent = conflationSummary(area.summary);
    for (const input of document.querySelectorAll('input[name="view"]')) input.onchange = () => showPlaces(area);
    await showPlaces(area);
  }

  if (!areafetch.token()) {
    const source = new EventSource(`/api/areas/${areaId}/events`);
    source.addEventListener("progress", (event) => showProgress(JSON.parse(event.data)));
    source.addEventListener("done", (event) => { source.close(); const area = JSON.parse(event.data); showProgress(area); showResults(area); });
  } else {
    // EventSource cannot send the Authorization header: poll the area instead.
    const poll = async () => {
      const response = await areafetch.api(`/api/areas/${areaId}`);
      const area = await response.json();
      if (!response.ok) { document.getElementById("failed-reason").textContent = area.detail; return; }
      showProgress(area);
      if (["completed", "partial", "failed", "cancelled"].includes(area.state)) showResults(area); else setTimeout(poll, 1000);
    };
    poll();
  }
})();
