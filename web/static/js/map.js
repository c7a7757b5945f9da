// The map of places (map.html): one circle per picture with a GPS position; its tooltip names
// the place, its popup shows the picture and opens its page. Data from the server goes into the
// page as text and attributes only (Leaflet's string tooltips would be HTML: elements are given).
"use strict";

(function () {
  const holder = document.getElementById("map");
  if (!holder || !window.L) return;
  const count = document.getElementById("map-count");
  const tiles = holder.dataset.tiles || "";
  const map = L.map(holder, { worldCopyJump: true, attributionControl: Boolean(tiles) });
  map.setView([20, 0], 2);
  if (tiles) {
    L.tileLayer(tiles, { maxZoom: 19 }).addTo(map);
  } else {
    // No tiles: lines every 30 degrees give the points their bearings.
    const line = { color: "#888", weight: 1, opacity: 0.35, interactive: false };
    for (let lat = -60; lat <= 60; lat += 30) L.polyline([[lat, -180], [lat, 180]], line).addTo(map);
    for (let lon = -180; lon <= 180; lon += 30) L.polyline([[-85, lon], [85, lon]], line).addTo(map);
  }

  function text(tag, className, value) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    node.textContent = value;
    return node;
  }

  function popup(point) {
    const box = document.createElement("div");
    box.className = "map-popup";
    const link = document.createElement("a");
    link.href = "/images/" + encodeURIComponent(point.id);
    const img = document.createElement("img");
    img.src = "/images/" + encodeURIComponent(point.id) + "/thumbnail";
    img.alt = point.place ? "A picture taken in " + point.place : "A picture";
    link.appendChild(img);
    box.append(link, text("p", "", point.place || point.lat.toFixed(4) + ", " + point.lon.toFixed(4)));
    return box;
  }

  function show(data) {
    const bounds = [];
    for (const point of data.points) {
      const marker = L.circleMarker([point.lat, point.lon], {
        radius: 7, weight: 2, color: "#fff", fillColor: "#2456d6", fillOpacity: 0.85, className: "place-point",
      }).addTo(map);
      marker.getElement().dataset.id = String(point.id);
      marker.bindTooltip(text("span", "", point.place || "No place name"));
      marker.bindPopup(popup(point));
      bounds.push([point.lat, point.lon]);
    }
    if (bounds.length) map.fitBounds(bounds, { padding: [40, 40], maxZoom: 10 });
    const shown = data.points.length;
    count.textContent = shown === 1 ? "1 picture with a place." : shown + " pictures with a place" +
      (data.total > shown ? " (the first " + shown + " of " + data.total + ")." : ".");
  }

  fetch(holder.dataset.points, { headers: { Accept: "application/json" } })
    .then(function (response) {
      if (response.status === 401 && window.pixsiftSession) window.pixsiftSession.ended();
      if (!response.ok) throw new Error("The server failed (" + response.status + ").");
      return response.json();
    })
    .then(show)
    .catch(function (error) { count.textContent = error.message; });
})();
