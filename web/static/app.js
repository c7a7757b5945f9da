// pixsift search page: "more results", search by an example image (choose or drop a file),
// and the "why?" overlays of results and of an image's page.
// Data from the server is only ever put into the page with textContent and attributes,
// never as HTML.
"use strict";

(function () {
  const grid = document.getElementById("results");
  const more = document.getElementById("more");
  const status = document.getElementById("status");
  const template = document.getElementById("card-template");
  const fileInput = document.getElementById("image-file");
  const dropHint = document.getElementById("drop-hint");
  let exampleFile = null; // the uploaded image while its results are shown
  // The text searched together with the uploaded image: fixed when the search starts and shown
  // as a chip, so that the next pages never pick up whatever the box holds by then.
  let exampleText = "";
  let nextCursor = null; // for uploaded-image searches, which have no GET "next" URL
  let loading = false;
  let searchGeneration = 0; // a page that arrives after another search started is dropped
  let observer = null; // loads the next page when the "More results" button nears the viewport
  // What the results' "why?" overlays explain (the search's q, image_id, exclude; empty for an
  // uploaded image, which a GET cannot carry).
  let explainQuery = grid ? grid.dataset.explainQuery || "" : "";

  function say(message) {
    if (status) status.textContent = message || "";
  }

  function clock(seconds) {
    const whole = Math.floor(seconds);
    return Math.floor(whole / 60) + ":" + String(whole % 60).padStart(2, "0");
  }

  // What the score means to a person: the band when the library is calibrated (no number on
  // cards; the viewer shows the cosine similarity).
  const BAND_LABELS = {strong: "strong match", possible: "possible match", weak: "weak match", words: "word match"};

  // What a picture shows, for a screen reader (web/page_format.py's alt_text, the same words).
  function altText(result) {
    if (result.description && result.description.trim()) {
      return result.description.trim() + " (" + result.name + ")";
    }
    if (result.caption && result.caption.trim()) return result.caption.trim() + " (" + result.name + ")";
    const tags = (result.tags || []).slice(0, 4);
    return tags.length ? result.name + ": " + tags.join(", ") : result.name;
  }

  // As _results.html's video_badge: a play mark, the moment's time and the video's length.
  function videoBadge(result) {
    const badge = document.createElement("span");
    badge.className = "video-badge";
    const play = document.createElement("span");
    play.className = "play";
    play.setAttribute("aria-hidden", "true");
    play.textContent = "\u25B6";
    const spoken = document.createElement("span");
    spoken.className = "visually-hidden";
    spoken.textContent = "Video, at ";
    const at = document.createElement("span");
    at.className = "at";
    at.textContent = clock(result.offset_s);
    badge.append(play, " ", spoken, at);
    if (result.video_duration_s) {
      const length = document.createElement("span");
      length.className = "length";
      length.textContent = " / " + clock(result.video_duration_s);
      badge.append(length);
    }
    return badge;
  }

  function card(result) {
    const item = template.content.firstElementChild.cloneNode(true);
    item.dataset.id = String(result.id);
    item.dataset.preview = result.preview_url;
    item.dataset.original = result.image_url;
    item.dataset.name = result.name;
    if (result.offset_s !== null && result.offset_s !== undefined) item.dataset.offset = String(result.offset_s);
    // Painted by js/placeholders.js before the thumbnail arrives.
    if (result.placeholder) item.dataset.placeholder = result.placeholder;
    if (result.placeholder_colour) item.dataset.placeholderColour = result.placeholder_colour;
    if (result.similarity !== null && result.similarity !== undefined) {
      item.dataset.similarity = result.similarity.toFixed(3);
    }
    const open = item.querySelector("a.open");
    open.href = result.page_url + (explainQuery ? "?" + explainQuery : "");
    open.title = result.name;
    const img = item.querySelector("img");
    img.src = result.thumbnail_url;
    img.srcset = result.thumbnail_srcset;
    img.sizes = grid.dataset.cardSizes || "";
    img.alt = altText(result);
    img.width = result.width;
    img.height = result.height;
    const name = item.querySelector(".name");
    name.textContent = result.name;
    if (result.offset_s !== null && result.offset_s !== undefined) {
      const when = document.createElement("span");
      when.className = "when";
      when.textContent = "@" + clock(result.offset_s);
      name.append(" ", when);
      open.after(videoBadge(result));
    }
    const moments = item.querySelector("ol.moments");
    if (moments && result.moments && result.moments.length > 1) {
      const inTime = result.moments.slice().sort((a, b) => a.offset_s - b.offset_s);
      for (const moment of inTime) {
        const link = document.createElement("a");
        link.href = moment.page_url;
        link.dataset.offset = String(moment.offset_s);
        link.textContent = clock(moment.offset_s);
        const entry = document.createElement("li");
        entry.appendChild(link);
        moments.appendChild(entry);
      }
      moments.hidden = false;
    }
    const band = item.querySelector(".band");
    band.textContent = result.band ? BAND_LABELS[result.band] : "";
    band.dataset.band = result.band || "";
    band.hidden = !result.band;
    item.querySelector(".tags").textContent = (result.tags || []).join(", ");
    const similar = item.querySelector("a.similar");
    similar.href = "/?image_id=" + encodeURIComponent(result.id);
    similar.setAttribute("aria-label", "More like " + result.name);
    const why = item.querySelector("button.why");
    why.hidden = !explainQuery;
    why.setAttribute("aria-label", "Why does " + result.name + " match?");
    if (window.pixsiftStacks) window.pixsiftStacks.badge(item, result); // js/stacks.js
    return item;
  }

  function showPage(data, replace) {
    if (replace) {
      cancelWhy();
      grid.replaceChildren();
    }
    for (const result of data.results) {
      // The timeline's month and day headings (js/timeline.js).
      if (window.pixsiftTimeline) window.pixsiftTimeline.before(grid, result);
      grid.appendChild(card(result));
    }
    if (replace && data.results.length === 0) say("No results.");
    nextCursor = data.next_cursor;
    if (data.next_cursor) {
      more.hidden = false;
      more.textContent = "More results";
      more.dataset.next = data.next || "";
      if (!more.getAttribute("href")) more.setAttribute("href", "#");
    } else {
      more.hidden = true;
    }
  }

  async function request(url, options) {
    let response;
    try {
      response = await fetch(url, options);
    } catch (error) {
      throw new Error("The server did not answer. Is pixsift serve still running?");
    }
    let body = null;
    try {
      body = await response.json();
    } catch (error) {
      body = null;
    }
    if (response.status === 401 && window.pixsiftSession) window.pixsiftSession.ended();
    if (!response.ok) {
      const message = body && body.error ? body.error.message : "The server failed (" + response.status + ").";
      throw new Error(message);
    }
    return body;
  }

  function uploadBody(cursor) {
    const form = new FormData();
    form.append("image", exampleFile, exampleFile.name || "image");
    if (exampleText) form.append("q", exampleText); // "this photo, but at night": a chip
    if (cursor) form.append("cursor", cursor);
    const headers = { Accept: "application/json" };
    // With accounts in use, a cookie-authenticated POST carries the page's CSRF token.
    const token = document.querySelector('meta[name="csrf-token"]');
    if (token) headers["X-CSRFToken"] = token.content;
    return { method: "POST", body: form, headers: headers };
  }

  async function loadMore() {
    if (loading || more.hidden || (exampleFile && !nextCursor)) return;
    loading = true;
    more.textContent = "Loading…";
    const generation = searchGeneration;
    try {
      const data = exampleFile
        ? await request("/api/search", uploadBody(nextCursor))
        : await request(more.dataset.next);
      if (generation !== searchGeneration) return;
      showPage(data, false);
      const count = grid.querySelectorAll("li.card").length;
      say(count + " pictures" + (more.hidden ? "." : " so far."));
      if (observer) {
        // Observing again reports the button's position now: still in view, load on.
        observer.unobserve(more);
        observer.observe(more);
      }
    } catch (error) {
      say(error.message);
      more.textContent = "More results";
    } finally {
      loading = false;
    }
  }

  // The heading of an uploaded image's results: what was searched, each part a chip that
  // removes it (the text: search the image alone; the image: search the text alone).
  function setExampleHeading(file) {
    const name = file.name || "your image";
    setHeading("Pictures like " + name + (exampleText ? " and “" + exampleText + "”" : ""));
    const chips = document.createElement("ul");
    chips.className = "chips query-chips";
    chips.id = "query-chips";
    chips.setAttribute("aria-label", "What this search looks for");
    chips.appendChild(chip("Image: " + name, "Search without the image", function () {
      const text = exampleText;
      exampleFile = null;
      window.location.assign(text ? "/?q=" + encodeURIComponent(text) : "/");
    }));
    if (exampleText) {
      chips.appendChild(chip("Text: " + exampleText, "Search without the text", function () {
        const q = document.getElementById("q");
        if (q) q.value = "";
        searchByImage(file, "");
      }));
    }
    document.querySelector(".results-head").appendChild(chips);
  }

  function chip(label, removeLabel, remove) {
    const item = document.createElement("li");
    item.className = "chip";
    const text = document.createElement("span");
    text.textContent = label;
    const button = document.createElement("button");
    button.type = "button";
    button.className = "chip-remove";
    button.setAttribute("aria-label", removeLabel);
    button.textContent = "×";
    button.addEventListener("click", remove);
    item.append(text, button);
    return item;
  }

  function setHeading(text) {
    for (const id of ["welcome", "no-results"]) {
      const element = document.getElementById(id);
      if (element) element.remove();
    }
    let head = document.querySelector(".results-head");
    if (!head) {
      head = document.createElement("section");
      head.className = "results-head";
      status.before(head);
    }
    const title = document.createElement("h1");
    title.textContent = text;
    head.replaceChildren(title);
  }

  async function searchByImage(file, text) {
    if (!file) return;
    exampleFile = file;
    searchGeneration += 1;
    // The page shown so far is another query's: its cursor must not be sent with this one.
    nextCursor = null;
    if (more) more.hidden = true;
    const q = document.getElementById("q");
    exampleText = text !== undefined ? text : q ? q.value.trim() : "";
    explainQuery = "";
    say("Searching for pictures like " + (file.name || "your image") + "…");
    document.body.classList.add("busy");
    try {
      const data = await request("/api/search", uploadBody(null));
      setExampleHeading(file);
      history.pushState({ example: true }, "", "/");
      showPage(data, true);
      say(data.results.length ? grid.children.length + " pictures." : "No results.");
    } catch (error) {
      exampleFile = null;
      say(error.message);
    } finally {
      document.body.classList.remove("busy");
    }
  }

  // Results announced to screen readers: once the page is ready, and after each new page.
  if (grid && grid.children.length) {
    window.setTimeout(function () {
      const count = grid.querySelectorAll("li.card").length;
      say(count + (count === 1 ? " picture" : " pictures") + (more && !more.hidden ? " so far" : "") + ".");
    }, 250);
  }

  if (more) {
    more.addEventListener("click", function (event) {
      if (!more.dataset.next && !exampleFile) return; // no JavaScript page: follow the link
      event.preventDefault();
      loadMore();
    });
    if ("IntersectionObserver" in window) {
      observer = new IntersectionObserver(function (entries) {
        if (entries.some((entry) => entry.isIntersecting)) loadMore();
      }, { rootMargin: "400px" });
      observer.observe(more);
    }
  }

  function isDefault(name, value) {
    return (name === "order" && value === "score") || (name === "mode" && value === "hybrid");
  }

  // The options (exclude, mode, filters) live in the URL query string with q.
  const searchForm = document.querySelector("form.search");
  const refine = document.getElementById("refine");
  if (searchForm && refine) {
    searchForm.addEventListener("submit", function (event) {
      event.preventDefault();
      const params = new URLSearchParams();
      for (const [name, value] of new FormData(refine)) {
        if (name !== "q" && String(value).trim() && !isDefault(name, value)) params.append(name, value);
      }
      const q = document.getElementById("q");
      if (q && q.value.trim()) params.set("q", q.value.trim());
      window.location.assign("/?" + params.toString());
    });
    refine.addEventListener("submit", function () {
      const q = document.getElementById("q");
      refine.elements.q.value = q ? q.value : "";
      for (const element of Array.from(refine.elements)) {
        // Keep the URL short: no empty fields, no defaults.
        if (element.name && (!element.value || isDefault(element.name, element.value))) {
          element.disabled = true;
        }
      }
    });
  }

  if (fileInput) {
    fileInput.addEventListener("change", function () {
      searchByImage(fileInput.files[0]);
    });
  }

  let dragDepth = 0;
  document.addEventListener("dragenter", function (event) {
    if (!event.dataTransfer || !Array.from(event.dataTransfer.types).includes("Files")) return;
    dragDepth += 1;
    dropHint.hidden = false;
  });
  document.addEventListener("dragleave", function () {
    dragDepth = Math.max(0, dragDepth - 1);
    if (dragDepth === 0) dropHint.hidden = true;
  });
  document.addEventListener("dragover", function (event) {
    event.preventDefault();
  });
  document.addEventListener("drop", function (event) {
    event.preventDefault();
    dragDepth = 0;
    dropHint.hidden = true;
    const files = event.dataTransfer ? event.dataTransfer.files : null;
    if (files && files.length) searchByImage(files[0]);
  });

  // "why?": the explanation's PNG over the picture (red: regions that raise the score, blue:
  // regions that lower it; outside the outlined square the model saw nothing). Asked for on
  // click only (each one is a heavy job on the server), with a spinner on the card meanwhile;
  // moving on (another "why?", Esc, a new page of results) cancels the one in flight.
  let whyInFlight = null; // {holder, controller}

  function cancelWhy() {
    if (!whyInFlight) return;
    whyInFlight.controller.abort();
    whyInFlight.holder.classList.remove("explaining");
    whyInFlight.holder.removeAttribute("aria-busy");
    whyInFlight = null;
  }

  async function showOverlay(holder, url, tell) {
    let overlay = holder.querySelector("img.why-overlay");
    if (!overlay) {
      overlay = document.createElement("img");
      overlay.className = "why-overlay";
      overlay.alt = "";
      overlay.hidden = true;
      holder.appendChild(overlay);
    }
    if (overlay.dataset.url !== url) {
      cancelWhy();
      const controller = new AbortController();
      whyInFlight = { holder: holder, controller: controller };
      holder.classList.add("explaining");
      holder.setAttribute("aria-busy", "true");
      tell("Working out why it matches…");
      let response;
      try {
        response = await fetch(url, { signal: controller.signal });
        if (!response.ok) {
          let message = "No explanation (" + response.status + ").";
          try {
            const body = await response.json();
            if (body && body.error) message = body.error.message;
          } catch (error) {
            // not JSON: keep the status line
          }
          if (response.status === 401 && window.pixsiftSession) window.pixsiftSession.ended();
          tell(message);
          return;
        }
        const picture = await response.blob();
        if (overlay.src.startsWith("blob:")) URL.revokeObjectURL(overlay.src);
        overlay.src = URL.createObjectURL(picture);
        overlay.dataset.url = url;
      } catch (error) {
        if (error.name !== "AbortError") tell("The server did not answer.");
        return;
      } finally {
        if (whyInFlight && whyInFlight.controller === controller) {
          holder.classList.remove("explaining");
          holder.removeAttribute("aria-busy");
          whyInFlight = null;
        }
      }
    }
    overlay.hidden = false;
    holder.classList.add("explained-shown");
    showLegend(holder);
    tell("Showing why it matches: red raises the score, blue lowers it.");
  }

  // The legend sits under the explained picture while its overlay shows.
  function legendOf(holder) {
    // A card holds its legend; a picture's figure has it just below (the overlay covers the
    // figure exactly).
    return holder.tagName === "FIGURE"
      ? holder.nextElementSibling && holder.nextElementSibling.classList.contains("why-legend")
        ? holder.nextElementSibling
        : null
      : holder.querySelector(".why-legend");
  }

  function showLegend(holder) {
    if (legendOf(holder)) return;
    const legend = document.createElement("p");
    legend.className = "why-legend";
    const parts = [
      ["raises", "Red raises the score"],
      ["lowers", "blue lowers it"],
      ["crop", "the model sees only the outlined square"],
    ];
    parts.forEach(function (part, index) {
      const swatch = document.createElement("span");
      swatch.className = "swatch " + part[0];
      swatch.setAttribute("aria-hidden", "true");
      legend.append(swatch, part[1] + (index < parts.length - 1 ? ", " : "."));
    });
    if (holder.tagName === "FIGURE") holder.after(legend);
    else holder.appendChild(legend);
  }

  function hideOverlay(holder) {
    const overlay = holder.querySelector("img.why-overlay");
    if (overlay) overlay.hidden = true;
    holder.classList.remove("explained-shown");
    const legend = legendOf(holder);
    if (legend) legend.remove();
  }

  function overlayShown(holder) {
    const overlay = holder.querySelector("img.why-overlay");
    return Boolean(overlay && !overlay.hidden);
  }

  function explainUrl(id) {
    return "/api/images/" + encodeURIComponent(id) + "/explain?" + explainQuery + "&format=png";
  }

  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape") cancelWhy();
  });

  // The viewer offers "why?" too (on a phone, the only place): the same overlay on its stage.
  window.pixsiftWhy = {
    available: () => Boolean(explainQuery),
    toggle: function (holder, id) {
      if (overlayShown(holder) && holder.dataset.whyId === id) {
        hideOverlay(holder);
        say("");
        return false;
      }
      hideOverlay(holder);
      holder.dataset.whyId = id;
      showOverlay(holder, explainUrl(id), say);
      return true;
    },
    hide: hideOverlay,
    cancel: cancelWhy,
  };

  if (grid) {
    grid.addEventListener("click", function (event) {
      const button = event.target.closest("button.why");
      if (!button || !explainQuery) return;
      const item = button.closest("li.card");
      if (overlayShown(item)) {
        hideOverlay(item);
        button.setAttribute("aria-pressed", "false");
        say("");
        return;
      }
      for (const other of grid.querySelectorAll("li.card.explained-shown")) hideOverlay(other);
      button.setAttribute("aria-pressed", "true");
      showOverlay(item, explainUrl(item.dataset.id), say);
    });
  }

  // An image's page: "why?" explains the query in the form (prefilled from the search that led
  // here); without JavaScript the form opens the overlay picture itself.
  const whyForm = document.getElementById("why-form");
  const explained = document.getElementById("explained");
  const whyStatus = document.getElementById("why-status");
  if (whyForm && explained) {
    whyForm.addEventListener("submit", function (event) {
      event.preventDefault();
      const params = new URLSearchParams();
      for (const [name, value] of new FormData(whyForm)) {
        if (String(value).trim()) params.append(name, value); // an empty field is an unset one
      }
      const url = whyForm.action + "?" + params.toString();
      const overlay = explained.querySelector("img.why-overlay");
      if (overlayShown(explained) && overlay.dataset.url === url) {
        hideOverlay(explained);
        return;
      }
      whyStatus.textContent = "Explaining…";
      showOverlay(explained, url, function (message) {
        whyStatus.textContent = message;
      });
    });
  }

  // Back to a shared /?q=... URL after an image search: show what that URL says.
  window.addEventListener("popstate", function (event) {
    // (Not when the viewer opens or closes over these results.)
    if (event.state && (event.state.example || event.state.viewer)) return;
    if (exampleFile) window.location.reload();
  });
})();
