"use strict";
(() => {
  const root = document.getElementById("area");
  const areaId = root.dataset.areaId;
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

  async function showResults(area) {
    document.getElementById("summary").textContent = area.summary ? JSON.stringify(area.summary, null, 2) : (area.failed_reason || "no summary");
    const response = await areafetch.api(`/api/areas/${areaId}/places?limit=10000`);
    const data = await response.json();
    const rows = [];
    const layer = map ? L.featureGroup().addTo(map) : null;
    for (const feature of data.features) {
      const [lon, lat] = feature.geometry.coordinates, props = feature.properties;
      const swatch = document.createElement("span"); swatch.className = "swatch"; swatch.style.background = colour(props.category);
      const categoryCell = document.createElement("td"); categoryCell.append(swatch, labels[props.category] || props.category);
      rows.push(areafetch.row([props.name || "(no name)", categoryCell, props.source, props.source_id, lat.toFixed(5), lon.toFixed(5)]));
      if (layer) L.circleMarker([lat, lon], { radius: 5, color: colour(props.category), fillOpacity: 0.8 })
        .bindTooltip(`${props.name || props.source_id} (${props.category})`).addTo(layer);
    }
    document.querySelector("#places tbody").replaceChildren(...rows);
    document.getElementById("places-count").textContent = `(${rows.length}${data.next_cursor ? "+" : ""})`;
    if (layer && rows.length) map.fitBounds(layer.getBounds(), { maxZoom: 17 });
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
      if (["completed", "failed"].includes(area.state)) showResults(area); else setTimeout(poll, 1000);
    };
    poll();
  }
})();
