// The duplicates' threshold slider says its value as it moves; the form applies it.
"use strict";

(function () {
  const slider = document.getElementById("threshold");
  const shown = document.getElementById("threshold-value");
  if (!slider || !shown) return;
  slider.addEventListener("input", function () {
    shown.textContent = Number(slider.value).toFixed(3);
  });
  slider.addEventListener("change", function () {
    slider.form.requestSubmit ? slider.form.requestSubmit() : slider.form.submit();
  });
})();
