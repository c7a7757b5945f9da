// The viewer's tools: "Add to album" (an album of the list, or a new one) for everyone who sees
// results (viewers own albums too, as on the picture page), and for those who may edit the
// library (the page says so with <meta name="pixsift-editor">) "Hide from results" (the picture
// leaves the results at once, with "Undo"). They call the same JSON
// API as everything else (/api/images/ID/hidden, /api/albums, /api/albums/ID/items); what
// happened is said in a status line that screen readers announce.
"use strict";

(function () {
  const editor = Boolean(document.querySelector('meta[name="pixsift-editor"]')); // Hide: editors only

  let note = null; // the status line in the viewer
  let pageNote = null; // and on the page, for when the viewer closed (its own: app.js's changes)
  let albumForm = null;
  let hideButton = null;
  let albumButton = null;

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  async function send(method, url, body) {
    const headers = { Accept: "application/json" };
    const token = document.querySelector('meta[name="csrf-token"]');
    if (token) headers["X-CSRFToken"] = token.content;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const response = await fetch(url, {
      method: method,
      headers: headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (response.status === 401 && window.pixsiftSession) window.pixsiftSession.ended();
    const data = await response.json().catch(() => null);
    if (!response.ok) {
      throw new Error(data && data.error ? data.error.message : "The server failed (" + response.status + ").");
    }
    return data;
  }

  // The status line: a sentence, then what may follow it (an "Undo" button, a link).
  function say(text, ...extras) {
    note.replaceChildren(element("span", "", text), ...extras);
    note.hidden = false;
  }

  function quoted(card) {
    return "“" + card.dataset.name + "”";
  }

  function build(viewer, bar) {
    const close = bar.querySelector(".viewer-close");
    albumButton = element("button", "viewer-button viewer-album-toggle", "+");
    albumButton.type = "button";
    albumButton.id = "viewer-album-toggle";
    albumButton.setAttribute("aria-expanded", "false");
    albumButton.setAttribute("aria-controls", "viewer-album");
    albumButton.addEventListener("click", toggleAlbums);
    bar.insertBefore(albumButton, close);
    if (editor) {
      hideButton = element("button", "viewer-button viewer-hide", "Hide");
      hideButton.type = "button";
      hideButton.id = "viewer-hide";
      hideButton.addEventListener("click", hide);
      bar.insertBefore(hideButton, close);
    }
    albumForm = buildAlbumForm();
    note = element("p", "viewer-note");
    note.id = "viewer-note";
    note.setAttribute("role", "status");
    note.setAttribute("aria-live", "polite");
    note.hidden = true;
    viewer.append(albumForm, note);
    // Made now, empty, so that screen readers watch it before anything is said in it.
    pageNote = element("p", "status viewer-page-note");
    pageNote.id = "viewer-page-note";
    pageNote.setAttribute("role", "status");
    pageNote.setAttribute("aria-live", "polite");
    window.pixsiftViewer.grid.before(pageNote);
  }

  function show(card) {
    if (!albumButton) return;
    if (hideButton) {
      hideButton.setAttribute("aria-label", "Hide " + quoted(card) + " from results");
      hideButton.title = hideButton.getAttribute("aria-label");
    }
    albumButton.setAttribute("aria-label", "Add " + quoted(card) + " to an album");
    albumButton.title = albumButton.getAttribute("aria-label");
    closeAlbums(false);
    // A sentence about the picture before goes; an "Undo" stays until the next one.
    if (note && !note.querySelector("#viewer-undo")) note.hidden = true;
  }

  // Hide from results -----------------------------------------------------------------------

  async function hide() {
    const card = window.pixsiftViewer.current();
    if (!card) return;
    hideButton.disabled = true;
    try {
      await send("POST", "/api/images/" + encodeURIComponent(card.dataset.id) + "/hidden");
    } catch (error) {
      say("Not hidden: " + error.message);
      return;
    } finally {
      hideButton.disabled = false;
    }
    const place = { parent: card.parentNode, before: card.nextElementSibling };
    window.pixsiftViewer.remove(card);
    tidyHeadings(place.parent);
    const undo = element("button", "viewer-undo", "Undo");
    undo.type = "button";
    undo.id = "viewer-undo";
    undo.setAttribute("aria-label", "Undo: show " + quoted(card) + " again");
    undo.addEventListener("click", () => showAgain(card, place));
    if (!window.pixsiftViewer.current()) {
      // The viewer closed (it was the last picture): the page's status line says it.
      pageNote.replaceChildren(element("span", "", quoted(card) + " is hidden from results. "), undo);
    } else {
      say(quoted(card) + " is hidden from results. ", undo);
    }
  }

  async function showAgain(card, place) {
    try {
      await send("DELETE", "/api/images/" + encodeURIComponent(card.dataset.id) + "/hidden");
    } catch (error) {
      say("Still hidden: " + error.message);
      return;
    }
    const before = place.before && place.before.parentNode === place.parent ? place.before : null;
    place.parent.insertBefore(card, before);
    tidyHeadings(place.parent);
    window.pixsiftViewer.refresh();
    const text = quoted(card) + " is shown in results again.";
    if (window.pixsiftViewer.current()) {
      say(text);
      hideButton.focus(); // the Undo button is gone; stay on the tools
    } else {
      pageNote.textContent = text;
      card.querySelector("a.open").focus();
    }
  }

  // A timeline's month and day headings with no picture left under them are hidden.
  function tidyHeadings(grid) {
    if (!grid || !grid.dataset || !grid.dataset.timeline) return;
    let day = null;
    let month = null;
    for (const item of grid.children) {
      if (item.matches("li.when.month")) {
        month = item;
        month.hidden = true;
      } else if (item.matches("li.when.day")) {
        day = item;
        day.hidden = true;
      } else if (item.matches("li.card")) {
        if (day) day.hidden = false;
        if (month) month.hidden = false;
      }
    }
  }

  // Add to an album -------------------------------------------------------------------------

  function buildAlbumForm() {
    const form = element("form", "viewer-album");
    form.id = "viewer-album";
    form.hidden = true;
    form.setAttribute("aria-label", "Add to an album");
    const choice = element("select");
    choice.id = "viewer-album-choice";
    const choiceLabel = element("label", "", "Album ");
    choiceLabel.append(choice);
    const name = element("input");
    name.type = "text";
    name.id = "viewer-new-album";
    name.maxLength = 200;
    name.placeholder = "Summer 2024";
    const nameLabel = element("label", "viewer-new-album-name", "named ");
    nameLabel.append(name);
    const add = element("button", "", "Add");
    add.type = "submit";
    add.id = "viewer-album-add";
    const cancel = element("button", "secondary", "Cancel");
    cancel.type = "button";
    cancel.addEventListener("click", () => closeAlbums(true));
    form.append(choiceLabel, nameLabel, add, cancel);
    choice.addEventListener("change", () => showName(form));
    form.addEventListener("submit", addToAlbum);
    form.addEventListener("keydown", function (event) {
      if (event.key === "Escape") {
        event.preventDefault();
        event.stopPropagation(); // Esc closes the picker, not the viewer
        closeAlbums(true);
      }
    });
    return form;
  }

  function showName(form) {
    const creating = form.querySelector("select").value === "";
    form.querySelector(".viewer-new-album-name").hidden = !creating;
    form.querySelector("input").required = creating;
  }

  async function toggleAlbums() {
    if (!albumForm.hidden) {
      closeAlbums(true);
      return;
    }
    const choice = albumForm.querySelector("select");
    let albums = [];
    try {
      albums = (await send("GET", "/api/albums")).albums;
    } catch (error) {
      say("Albums not read: " + error.message);
      return;
    }
    const options = albums.map(function (album) {
      const option = element("option", "", album.name + (album.kind === "smart" ? " (pin)" : ""));
      option.value = String(album.id);
      return option;
    });
    const fresh = element("option", "", "A new album…");
    fresh.value = "";
    choice.replaceChildren(...options, fresh);
    showName(albumForm);
    albumForm.hidden = false;
    albumButton.setAttribute("aria-expanded", "true");
    choice.focus();
  }

  function closeAlbums(focus) {
    if (!albumForm || albumForm.hidden) return;
    albumForm.hidden = true;
    albumButton.setAttribute("aria-expanded", "false");
    if (focus) albumButton.focus();
  }

  async function addToAlbum(event) {
    event.preventDefault();
    const card = window.pixsiftViewer.current();
    if (!card) return;
    const choice = albumForm.querySelector("select");
    const name = albumForm.querySelector("input");
    try {
      let album = { id: Number(choice.value), name: choice.selectedOptions[0].textContent };
      if (choice.value === "") album = await send("POST", "/api/albums", { name: name.value.trim() });
      const changed = await send("POST", "/api/albums/" + album.id + "/items", { image_ids: [Number(card.dataset.id)] });
      const link = element("a", "", "Open the album");
      link.href = "/albums/" + album.id;
      const done = changed.changed ? " added to " : " was already in ";
      say(quoted(card) + done + "“" + changed.album.name + "”. ", link);
      name.value = "";
      closeAlbums(true);
    } catch (error) {
      say("Not added: " + error.message);
    }
  }

  window.pixsiftViewerTools = { build: build, show: show };
})();
