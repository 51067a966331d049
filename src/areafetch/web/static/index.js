"use strict";
(() => {
  const form = document.getElementById("area-form");
  const estimateOut = document.getElementById("estimate");
  const bboxIds = ["bbox-west", "bbox-south", "bbox-east", "bbox-north"];
  const map = areafetch.makeMap(document.getElementById("map"));
  let corner = null, rectangle = null, shape = null;

  const categorySearch = document.getElementById("category-search");
  categorySearch.addEventListener("input", () => {
    const words = categorySearch.value.toLowerCase().split(/\s+/).filter(Boolean);
    for (const group of form.querySelectorAll(".category-group")) {
      let shown = 0;
      for (const label of group.querySelectorAll("label[data-keywords]")) {
        const text = label.dataset.keywords.toLowerCase();
        const match = words.every((word) => text.includes(word)) || label.querySelector("input").checked;
        label.hidden = !match;
        if (match) shown += 1;
      }
      group.hidden = shown === 0;
    }
  });

  if (map) {
    map.on("click", (event) => {
      if (!corner) { corner = event.latlng; return; }
      const bounds = L.latLngBounds(corner, event.latlng); corner = null;
      const values = [bounds.getWest(), bounds.getSouth(), bounds.getEast(), bounds.getNorth()];
      bboxIds.forEach((id, i) => { document.getElementById(id).value = values[i].toFixed(5); });
      document.getElementById("geojson").value = "";
      drawShape(); scheduleEstimate();
    });
  }

  function drawShape() {
    if (!map) return;
    if (shape) { shape.remove(); shape = null; }
    try {
      const body = requestBody(false);
      if (body.area) shape = L.geoJSON(body.area).addTo(map);
      else if (body.bbox) shape = L.rectangle([[body.bbox[1], body.bbox[0]], [body.bbox[3], body.bbox[2]]]).addTo(map);
      if (shape) map.fitBounds(shape.getBounds(), { maxZoom: 16 });
    } catch (e) { /* shown by the API's validation */ }
  }

  function requestBody(strict) {
    const body = {
      name: document.getElementById("name").value,
      sources: [...form.querySelectorAll("input[name=sources]:checked")].map((el) => el.value),
      categories: [...form.querySelectorAll("input[name=categories]:checked")].map((el) => el.value),
    };
    const osmTags = document.getElementById("osm-tags").value.split(",").map((tag) => tag.trim()).filter(Boolean);
    if (osmTags.length) body.osm_tags = osmTags;
    const text = document.getElementById("geojson").value.trim();
    if (text) {
      try {
        let area = JSON.parse(text);
        if (area.type === "Feature") area = area.geometry;
        if (area.type === "FeatureCollection" && area.features.length) area = area.features[0].geometry;
        body.area = area;
      } catch (e) {
        if (strict) throw { field: "area", message: "not valid JSON: " + e.message };
      }
    } else {
      const values = bboxIds.map((id) => document.getElementById(id).value.trim());
      if (values.every((v) => v !== "")) body.bbox = values.map(Number);
    }
    return body;
  }

  function clearErrors() { form.querySelectorAll(".error").forEach((el) => { el.textContent = ""; }); }

  function showErrors(detail) {
    clearErrors();
    let first = null;
    for (const error of Array.isArray(detail) ? detail : [{ loc: ["body"], msg: String(detail) }]) {
      const field = error.loc && error.loc[0] === "body" && error.loc.length > 1 ? error.loc[1] : "form";
      const target = document.getElementById("error-" + field) || document.getElementById("error-form");
      target.textContent = (target.textContent ? target.textContent + "; " : "") + error.msg;
      first = first || target;
    }
    return first;
  }

  let timer = null, sequence = 0;
  function scheduleEstimate() { clearTimeout(timer); timer = setTimeout(estimate, 400); }

  async function estimate() {
    const body = requestBody(false);
    if (!body.area && !body.bbox) { estimateOut.textContent = "Choose an area."; return; }
    if (!body.sources.length || !(body.categories.length || (body.osm_tags || []).length)) { estimateOut.textContent = "Choose sources and categories."; return; }
    const mine = ++sequence;
    estimateOut.textContent = "Estimating…";
    const response = await areafetch.api("/api/areas/estimate", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    if (mine !== sequence) return;
    const data = await response.json();
    if (!response.ok) { showErrors(data.detail); estimateOut.textContent = "No estimate: see the errors."; return; }
    clearErrors();
    const calls = data.sources.map((s) => `${s.source} ${s.upstream_calls}`).join(", ");
    estimateOut.textContent = `${data.area_km2} km², ${data.tiles} tiles, ${data.circles} circles; ` +
      `${data.upstream_calls} upstream calls (${calls}); cap ${data.max_upstream_calls_per_job}. ` +
      (data.google ? `Google ${data.google.calls_floor}–${data.google.calls_ceiling ?? "?"} calls, ` +
        `${data.google.usd_floor.toFixed(2)}–${data.google.usd_ceiling === null ? "?" : data.google.usd_ceiling.toFixed(2)} USD ` +
        `(${data.google.sku}; ${data.google.known_places} places known). ` : "") +
      (data.accepted ? "Fits the per-job cap and today's budget." : "Would be refused: " + data.reasons.join("; "));
  }

  form.addEventListener("input", (event) => {
    if (event.target.id === "geojson" || bboxIds.includes(event.target.id)) drawShape();
    scheduleEstimate();
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    let body;
    try { body = requestBody(true); } catch (e) { showErrors([{ loc: ["body", e.field], msg: e.message }]).focus?.(); return; }
    const button = document.getElementById("submit");
    button.disabled = true;
    try {
      const response = await areafetch.api("/api/areas", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
      const data = await response.json();
      if (response.status === 202) { window.location.assign("/areas/" + data.area_id); return; }
      const target = showErrors(data.detail);
      const control = target && document.querySelector(`[aria-describedby~="${target.id}"]`);
      if (control) control.focus();
    } finally { button.disabled = false; }
  });
})();
