"use strict";
/* Shared by the pages: a Leaflet map that works without tiles. */
window.areafetch = {
  makeMap(element) {
    if (!window.L) return null;  // the pages stay usable without Leaflet
    const map = L.map(element, { keyboard: true }).setView([60.17, 24.94], 13);
    L.tileLayer(element.dataset.tileUrl, { attribution: element.dataset.attribution, maxZoom: 19 }).addTo(map);
    return map;
  },
  text(tag, value) { const el = document.createElement(tag); el.textContent = value == null ? "" : String(value); return el; },
  row(cells) { const tr = document.createElement("tr"); for (const c of cells) tr.append(c instanceof Node ? c : areafetch.text("td", c)); return tr; },
};
