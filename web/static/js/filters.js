// The filters: the order applies at once; the drawer closes with its × or Esc; defaults stay
// out of the URL (app.js builds a search's URL from this form too).
"use strict";

(function () {
  const refine = document.getElementById("refine");
  if (!refine) return;
  const order = document.getElementById("order");
  if (order) {
    order.addEventListener("change", function () {
      if (refine.requestSubmit) refine.requestSubmit();
      else refine.submit();
    });
  }
  const drawer = document.getElementById("filters");
  const close = document.getElementById("filters-close");
  if (drawer && close) {
    close.addEventListener("click", function () {
      drawer.open = false;
      document.getElementById("filters-toggle").focus();
    });
    drawer.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && drawer.open) {
        drawer.open = false;
        document.getElementById("filters-toggle").focus();
      }
    });
    drawer.addEventListener("toggle", function () {
      document.documentElement.classList.toggle("drawer-open", drawer.open);
    });
  }
})();
