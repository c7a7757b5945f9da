// Stacks on the search page: the card of a burst or a RAW+JPEG pair carries its count, and opens
// to show every copy (the best first). The server renders the first page's badges
// (_stack_badge.html); app.js calls badge() for each card it adds later. Data from the server
// goes into the page as text and attributes only.
"use strict";

(function () {
  function copy(id, index, count) {
    const item = document.createElement("li");
    item.dataset.id = String(id);
    const link = document.createElement("a");
    link.href = "/images/" + encodeURIComponent(id);
    const img = document.createElement("img");
    img.src = "/images/" + encodeURIComponent(id) + "/thumbnail";
    img.alt = "Copy " + (index + 1) + " of " + count + (index === 0 ? " (the best)" : "");
    img.loading = "lazy";
    img.decoding = "async";
    link.appendChild(img);
    item.appendChild(link);
    return item;
  }

  function badge(card, result) {
    const count = result.stack_count || 1;
    if (count < 2 || !result.stack || card.querySelector("details.stack")) return;
    const details = document.createElement("details");
    details.className = "stack";
    details.dataset.count = String(count);
    const summary = document.createElement("summary");
    summary.title = "Copies of one shot";
    summary.setAttribute("aria-label", count + " copies of this shot: show them");
    summary.textContent = count + " copies";
    const copies = document.createElement("ol");
    copies.className = "stack-copies";
    result.stack.forEach(function (id, index) { copies.appendChild(copy(id, index, count)); });
    details.append(summary, copies);
    const similar = card.querySelector("a.similar");
    card.insertBefore(details, similar);
  }

  window.pixsiftStacks = { badge: badge };
})();
