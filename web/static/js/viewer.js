// The full-screen viewer: opens a result in place (same URL as its page, for sharing), walks
// the current results with ←/→ (or a swipe), and Esc (or Back) returns to the grid where it was.
// It shows a preview sized for the screen; the original only on zoom or download.
// Keys: ← → previous/next, Esc close, i info panel, w why it matches, z zoom (the original),
// d download. Editors' tools (hide, add to an album) are js/viewer_keep.js, through
// window.pixsiftViewerTools (build, show) and this file's window.pixsiftViewer.
"use strict";

(function () {
  const grid = document.getElementById("results");
  if (!grid || typeof HTMLDialogElement === "undefined") return; // the links open pages

  const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
  let viewer = null;
  let current = null; // the card shown
  let pushed = false; // whether opening added a history entry (closing goes back over it)
  let info = null; // the fetch of the shown picture's facts, cancelled when moving on

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function button(className, label, text, action) {
    const node = element("button", "viewer-button " + className, text);
    node.type = "button";
    node.setAttribute("aria-label", label);
    node.title = label;
    node.addEventListener("click", action);
    return node;
  }

  function build() {
    viewer = element("dialog", "viewer");
    viewer.id = "viewer";
    viewer.setAttribute("aria-labelledby", "viewer-title");
    const stage = element("div", "viewer-stage");
    stage.id = "viewer-stage";
    const picture = element("img", "viewer-picture");
    picture.id = "viewer-picture";
    picture.addEventListener("click", toggleZoom);
    stage.append(
      picture,
      button("viewer-prev", "Previous picture (←)", "‹", () => step(-1)),
      button("viewer-next", "Next picture (→)", "›", () => step(1))
    );
    const bar = element("div", "viewer-bar");
    const title = element("h2", "viewer-title");
    title.id = "viewer-title";
    const count = element("span", "viewer-count");
    count.id = "viewer-count";
    count.setAttribute("aria-live", "polite");
    const download = element("a", "viewer-button viewer-download", "⤓");
    download.id = "viewer-download";
    download.setAttribute("download", "");
    download.setAttribute("aria-label", "Download the original (d)");
    download.title = "Download the original (d)";
    const page = element("a", "viewer-button viewer-page", "↗");
    page.id = "viewer-page";
    page.setAttribute("aria-label", "Open the picture's page");
    page.title = "Open the picture's page";
    bar.append(
      title,
      count,
      button("viewer-info-toggle", "Show or hide the details (i)", "i", toggleInfo),
      button("viewer-why", "Why does it match? (w)", "why?", toggleWhy),
      button("viewer-zoom", "Zoom to the original (z)", "⤢", toggleZoom),
      download,
      page,
      button("viewer-close", "Back to the pictures (Esc)", "×", () => close())
    );
    const panel = element("aside", "viewer-info");
    panel.id = "viewer-info";
    panel.setAttribute("aria-label", "Details");
    if (window.matchMedia("(max-width: 760px)").matches) panel.hidden = true;
    viewer.append(bar, stage, panel);
    if (window.pixsiftViewerTools) window.pixsiftViewerTools.build(viewer, bar);
    viewer.addEventListener("cancel", function (event) {
      event.preventDefault(); // Esc: close our way (history too)
      close();
    });
    viewer.addEventListener("keydown", keys);
    swipe(stage);
    document.body.appendChild(viewer);
  }

  function keys(event) {
    if (event.altKey || event.ctrlKey || event.metaKey) return;
    const actions = {
      ArrowLeft: () => step(-1),
      ArrowRight: () => step(1),
      i: toggleInfo,
      z: toggleZoom,
      w: toggleWhy,
      d: () => document.getElementById("viewer-download").click(),
    };
    const action = actions[event.key];
    if (!action || event.target.closest("input, textarea, select")) return;
    event.preventDefault();
    action();
  }

  function swipe(stage) {
    let startX = null;
    let startY = null;
    stage.addEventListener("touchstart", function (event) {
      if (event.touches.length !== 1 || viewer.classList.contains("zoomed")) return;
      startX = event.touches[0].clientX;
      startY = event.touches[0].clientY;
    }, { passive: true });
    stage.addEventListener("touchend", function (event) {
      if (startX === null) return;
      const dx = event.changedTouches[0].clientX - startX;
      const dy = event.changedTouches[0].clientY - startY;
      startX = null;
      if (Math.abs(dx) > 50 && Math.abs(dx) > 1.5 * Math.abs(dy)) step(dx < 0 ? 1 : -1);
    });
  }

  function cards() {
    return Array.from(grid.querySelectorAll("li.card"));
  }

  function show(card) {
    current = card;
    const list = cards();
    const picture = document.getElementById("viewer-picture");
    viewer.classList.remove("zoomed");
    if (window.pixsiftWhy) {
      window.pixsiftWhy.cancel();
      window.pixsiftWhy.hide(document.getElementById("viewer-stage"));
    }
    const why = viewer.querySelector(".viewer-why");
    why.hidden = !(window.pixsiftWhy && window.pixsiftWhy.available());
    why.setAttribute("aria-pressed", "false");
    picture.src = card.dataset.preview;
    picture.alt = card.querySelector("img").alt;
    document.getElementById("viewer-title").textContent = card.dataset.name;
    document.getElementById("viewer-count").textContent = list.indexOf(card) + 1 + " of " + list.length;
    document.getElementById("viewer-download").href = card.dataset.original;
    const link = card.querySelector("a.open").getAttribute("href");
    document.getElementById("viewer-page").href = link;
    viewer.querySelector(".viewer-prev").disabled = list.indexOf(card) === 0;
    const more = document.getElementById("more");
    viewer.querySelector(".viewer-next").disabled =
      list.indexOf(card) === list.length - 1 && (!more || more.hidden);
    for (const neighbour of [list[list.indexOf(card) - 1], list[list.indexOf(card) + 1]]) {
      if (neighbour) new Image().src = neighbour.dataset.preview; // ready before it is asked
    }
    loadInfo(card);
    if (window.pixsiftViewerTools) window.pixsiftViewerTools.show(card);
    return link;
  }

  function open(card) {
    if (!viewer) build();
    const link = show(card);
    history.pushState({ viewer: card.dataset.id }, "", link);
    pushed = true;
    document.documentElement.classList.add("viewing");
    viewer.showModal();
    viewer.querySelector(".viewer-close").focus();
  }

  function step(delta) {
    if (!current) return;
    const list = cards();
    const next = list[list.indexOf(current) + delta];
    if (next) {
      history.replaceState({ viewer: next.dataset.id }, "", show(next));
      return;
    }
    const more = document.getElementById("more");
    if (delta > 0 && more && !more.hidden) {
      // The end of what is loaded: load the next page, then go on.
      const watcher = new MutationObserver(function () {
        watcher.disconnect();
        step(1);
      });
      watcher.observe(grid, { childList: true });
      more.click();
    }
  }

  function close(fromHistory) {
    if (!viewer || !viewer.open) return;
    if (info) info.abort();
    if (window.pixsiftWhy) window.pixsiftWhy.cancel();
    viewer.close();
    document.documentElement.classList.remove("viewing");
    const card = current;
    current = null;
    if (pushed && !fromHistory) {
      pushed = false;
      history.back(); // the grid's own URL again; its scroll never moved
    }
    pushed = false;
    if (card && card.isConnected) {
      card.scrollIntoView({ block: "nearest" });
      card.querySelector("a.open").focus({ preventScroll: true });
    } else if (card) {
      document.getElementById("main").focus(); // its card left the results (hidden)
    }
  }

  // A card leaves the results (the picture was hidden): the viewer shows the next one (else the
  // one before), or closes when none is left.
  function remove(card) {
    const list = cards();
    const index = list.indexOf(card);
    const next = list[index + 1] || list[index - 1];
    card.remove();
    if (card !== current) return;
    if (next) history.replaceState({ viewer: next.dataset.id }, "", show(next));
    else close();
  }

  // Cards changed around the shown one (one came back): its count and neighbours again.
  function refresh() {
    if (current && viewer && viewer.open) show(current);
  }

  function toggleWhy() {
    if (!current || !window.pixsiftWhy || !window.pixsiftWhy.available()) return;
    if (viewer.classList.contains("zoomed")) toggleZoom();
    const shown = window.pixsiftWhy.toggle(document.getElementById("viewer-stage"), current.dataset.id);
    viewer.querySelector(".viewer-why").setAttribute("aria-pressed", shown ? "true" : "false");
  }

  function toggleInfo() {
    const panel = document.getElementById("viewer-info");
    panel.hidden = !panel.hidden;
  }

  function toggleZoom() {
    const picture = document.getElementById("viewer-picture");
    if (viewer.classList.toggle("zoomed")) picture.src = current.dataset.original;
    else picture.src = current.dataset.preview;
  }

  function fact(list, name, value) {
    if (value === null || value === undefined || value === "") return;
    list.append(element("dt", "", name), element("dd", "", String(value)));
  }

  function megabytes(size) {
    return size < 1e6 ? Math.max(1, Math.round(size / 1000)) + " KB" : (size / 1e6).toFixed(1) + " MB";
  }

  function readableDate(text) {
    const moment = new Date(text); // a date without a zone is the camera's local time
    return isNaN(moment) ? text : dateFormat.format(moment);
  }

  async function loadInfo(card) {
    if (info) info.abort();
    info = new AbortController();
    const panel = document.getElementById("viewer-info");
    const list = element("dl");
    panel.replaceChildren(element("h3", "", "Details"), list);
    fact(list, "Similarity (cosine)", card.dataset.similarity);
    let image;
    try {
      const response = await fetch("/api/images/" + encodeURIComponent(card.dataset.id), {
        signal: info.signal,
        headers: { Accept: "application/json" },
      });
      if (response.status === 401 && window.pixsiftSession) window.pixsiftSession.ended();
      if (!response.ok) return;
      image = await response.json();
    } catch (error) {
      return; // moved on, or the server is away: the picture still shows
    }
    if (card !== current) return;
    if (image.description) fact(list, "Description", image.description);
    fact(list, "Taken", image.taken_at ? readableDate(image.taken_at) : null);
    fact(list, "Size", image.width + " × " + image.height + " " + image.format + ", " + megabytes(image.size_bytes));
    fact(list, "Camera", [image.camera_make, image.camera_model].filter(Boolean).join(" "));
    if (image.gps_latitude !== null && image.gps_latitude !== undefined) {
      fact(list, "Place", image.gps_latitude.toFixed(5) + ", " + image.gps_longitude.toFixed(5));
    }
    // The place named offline at index time (city, region, country; each once).
    const names = [image.place_city, image.place_region, image.place_country].filter(Boolean);
    fact(list, "Taken in", names.filter((name, index) => names.indexOf(name) === index).join(", "));
    fact(list, "Tags", (image.tags || []).join(", "));
    fact(list, "Text in picture", image.text_in_image);
    fact(list, "Folder", image.path ? image.path.split("/").slice(0, -1).join("/") || "/" : null);
    fact(list, "Indexed", image.indexed_at ? readableDate(image.indexed_at) : null);
  }

  grid.addEventListener("click", function (event) {
    const link = event.target.closest("a.open");
    if (!link || event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) return;
    const card = link.closest("li.card");
    if (card.dataset.offset) return; // a video's moment: its page plays it from there
    event.preventDefault();
    open(card);
  });

  window.addEventListener("popstate", function (event) {
    if (viewer && viewer.open && !(event.state && event.state.viewer)) close(true);
  });

  window.pixsiftViewer = {
    open: open,
    close: close,
    remove: remove,
    refresh: refresh,
    current: function () { return viewer && viewer.open ? current : null; },
    grid: grid,
  };
})();
