// Albums on the search page: a checkbox on each result card; "Add selected" sends the checked
// ids with the add-to-album form (no other page script is changed). Loaded by
// _album_actions.html only when there are results.
(function () {
  "use strict";
  function start() {
    var form = document.getElementById("add-to-album");
    var button = document.getElementById("add-selected");
    if (!form || !button) { return; }
    var cards = document.querySelectorAll("#results .card[data-id]");
    cards.forEach(function (card) {
      if (card.querySelector("input.pick")) { return; }
      var box = document.createElement("input");
      box.type = "checkbox";
      box.className = "pick";
      box.value = card.getAttribute("data-id");
      box.setAttribute("aria-label", "Select for an album");
      box.addEventListener("change", function () {
        button.hidden = !document.querySelector("#results input.pick:checked");
      });
      card.appendChild(box);
    });
    // The name field is for a new album only: shown when "A new album…" is chosen.
    var choice = document.getElementById("album-choice");
    var named = form.querySelector(".new-album-name");
    if (choice && named) {
      var showName = function () {
        named.hidden = choice.value !== "";
        document.getElementById("new-album").required = choice.value === "";
      };
      choice.addEventListener("change", showName);
      showName();
    }
    button.addEventListener("click", function () {
      form.querySelectorAll("input[name=image_id]").forEach(function (old) { old.remove(); });
      document.querySelectorAll("#results input.pick:checked").forEach(function (box) {
        var field = document.createElement("input");
        field.type = "hidden";
        field.name = "image_id";
        field.value = box.value;
        form.appendChild(field);
      });
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
