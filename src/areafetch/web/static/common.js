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
  /* fetch() with the API token of this tab (sessionStorage), when one was given. */
  token() { return sessionStorage.getItem("areafetch-token") || ""; },
  api(url, options = {}) {
    const token = areafetch.token();
    const headers = Object.assign({}, options.headers, token ? { authorization: "Bearer " + token } : {});
    return fetch(url, Object.assign({}, options, { headers }));
  },
  row(cells) { const tr = document.createElement("tr"); for (const c of cells) tr.append(c instanceof Node ? c : areafetch.text("td", c)); return tr; },
};

(() => {
  const form = document.getElementById("token-form");
  if (!form) return;
  const input = document.getElementById("token");
  input.value = areafetch.token();
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (input.value) sessionStorage.setItem("areafetch-token", input.value); else sessionStorage.removeItem("areafetch-token");
    document.getElementById("token-saved").textContent = input.value ? "saved for this tab" : "cleared";
  });
})();
