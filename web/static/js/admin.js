// The accounts page: a confirmation before Remove and Revoke, and a new key's token shown once
// in a dialog with a copy button, on an address (/admin) whose reload posts nothing again.
"use strict";

(function () {
  const newKey = document.getElementById("new-key");
  if (newKey && window.history.replaceState) {
    // The page answered the POST that made the key: a reload would make another one.
    window.history.replaceState(null, "", "/admin");
  }
  if (newKey && typeof newKey.showModal === "function") {
    newKey.close();
    newKey.showModal();
  }

  document.addEventListener("click", async function (event) {
    const copy = event.target.closest("[data-copy]");
    if (copy) {
      const source = document.getElementById(copy.dataset.copy);
      const status = document.getElementById("copy-status");
      try {
        await navigator.clipboard.writeText(source.textContent.trim());
        if (status) status.textContent = "Copied.";
      } catch (error) {
        // No clipboard (plain http): select the token so that Ctrl+C copies it.
        const range = document.createRange();
        range.selectNodeContents(source);
        const selection = window.getSelection();
        selection.removeAllRanges();
        selection.addRange(range);
        if (status) status.textContent = "Selected: press Ctrl+C (⌘C) to copy.";
      }
      return;
    }
    const closer = event.target.closest("[data-close-dialog]");
    if (closer) closer.closest("dialog").close();
  });

  // Forms that undo something ask first, in a dialog that names what goes.
  let confirmDialog = null;
  function dialog() {
    if (confirmDialog) return confirmDialog;
    confirmDialog = document.createElement("dialog");
    confirmDialog.className = "confirm";
    confirmDialog.id = "confirm";
    confirmDialog.setAttribute("aria-labelledby", "confirm-text");
    const text = document.createElement("p");
    text.id = "confirm-text";
    const actions = document.createElement("p");
    actions.className = "actions";
    const cancel = document.createElement("button");
    cancel.type = "button";
    cancel.className = "secondary";
    cancel.id = "confirm-cancel";
    cancel.textContent = "Cancel";
    const yes = document.createElement("button");
    yes.type = "button";
    yes.className = "danger";
    yes.id = "confirm-yes";
    actions.append(cancel, yes);
    confirmDialog.append(text, actions);
    cancel.addEventListener("click", () => confirmDialog.close());
    document.body.appendChild(confirmDialog);
    return confirmDialog;
  }

  document.addEventListener("submit", function (event) {
    const form = event.target;
    if (!form.dataset || !form.dataset.confirm || form.dataset.confirmed === "1") return;
    event.preventDefault();
    const box = dialog();
    box.querySelector("#confirm-text").textContent = form.dataset.confirm;
    const yes = box.querySelector("#confirm-yes");
    yes.textContent = form.dataset.confirmAction || "Yes";
    yes.onclick = function () {
      box.close();
      form.dataset.confirmed = "1";
      form.submit();
    };
    box.showModal();
    box.querySelector("#confirm-cancel").focus();
  });
})();
