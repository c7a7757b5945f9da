// A session that ends while the page is open (an expired cookie, a password changed elsewhere):
// the API answers 401 and thumbnails stop loading. Say so next to the reader, in the viewport,
// with a way back to the login that returns here.
"use strict";

(function () {
  let shown = false;
  let note = null;

  // The note stays where the reader is: inside the open modal (the viewer makes the rest of the
  // page inert, so a note left in the page could not be clicked), in the page again once it
  // closes. Also when the modal opens after the session ended (the next page of results was
  // refused first), or closes with the note inside it.
  function place() {
    if (!note) return;
    const holder = document.querySelector("dialog[open]") || document.body;
    if (note.parentNode !== holder) holder.appendChild(note);
  }
  new MutationObserver(place).observe(document.documentElement, {
    subtree: true,
    attributes: true,
    attributeFilter: ["open"],
  });

  function ended() {
    if (shown) return;
    shown = true;
    note = document.createElement("div");
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
    place();
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
