// A session that ends while the page is open (an expired cookie, a password changed elsewhere):
// the API answers 401 and thumbnails stop loading. Say so next to the reader, in the viewport,
// with a way back to the login that returns here.
"use strict";

(function () {
  let shown = false;

  function ended() {
    if (shown) return;
    shown = true;
    const note = document.createElement("div");
    note.className = "session-ended";
    note.id = "session-ended";
    note.setAttribute("role", "alert");
    const text = document.createElement("span");
    text.textContent = "Your session has ended. ";
    const link = document.createElement("a");
    link.href = "/login?next=" + encodeURIComponent(location.pathname + location.search);
    link.textContent = "Log in again";
    link.id = "session-login";
    note.append(text, link, document.createTextNode(" to go on where you were."));
    // Inside an open modal (the viewer), which makes the rest of the page inert.
    (document.querySelector("dialog[open]") || document.body).appendChild(note);
    link.focus({ preventScroll: true });
  }

  // A broken picture may be a missing file or an ended session: ask for it again (one at a
  // time) and see which.
  let asked = false;
  document.addEventListener(
    "error",
    async function (event) {
      const target = event.target;
      if (!(target instanceof HTMLImageElement) || asked || shown) return;
      if (!document.querySelector('meta[name="csrf-token"]')) return; // no accounts here
      asked = true;
      try {
        const response = await fetch(target.currentSrc || target.src, {
          method: "HEAD",
          cache: "no-store",
        });
        if (response.status === 401) ended();
      } catch (error) {
        // the server is away: nothing to log in to
      } finally {
        asked = false;
      }
    },
    true
  );

  window.pixsiftSession = { ended: ended };
})();
