// Keyboard: "/" focuses the search box, the arrow keys move between pictures of the grid (one
// tab stop per card: its picture link; its actions follow it only while it has focus), and the
// header steps aside while scrolling down on a phone.
"use strict";

(function () {
  const box = document.getElementById("q");
  document.addEventListener("keydown", function (event) {
    if (event.key !== "/" || event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.target.closest("input, textarea, select, [contenteditable], dialog")) return;
    if (!box) return;
    event.preventDefault();
    box.focus();
    box.select();
  });

  const grid = document.getElementById("results");
  function columns() {
    const cards = grid.querySelectorAll("li.card");
    if (cards.length < 2) return 1;
    const top = cards[0].getBoundingClientRect().top;
    let count = 0;
    for (const card of cards) {
      if (card.getBoundingClientRect().top !== top) break;
      count += 1;
    }
    return Math.max(1, count);
  }
  if (grid) {
    // The card's other controls are reachable by Tab only from its picture link.
    const quiet = function (card) {
      for (const control of card.querySelectorAll("a.similar, button.why, ol.moments a")) {
        control.tabIndex = -1;
      }
    };
    const settle = () => grid.querySelectorAll("li.card").forEach(quiet);
    settle();
    new MutationObserver(settle).observe(grid, { childList: true });
    grid.addEventListener("focusin", function (event) {
      const card = event.target.closest("li.card");
      if (!card) return;
      for (const control of card.querySelectorAll("a.similar, button.why, ol.moments a")) {
        control.tabIndex = 0;
      }
    });
    grid.addEventListener("focusout", function (event) {
      const card = event.target.closest("li.card");
      if (card && !card.contains(event.relatedTarget)) quiet(card);
    });
    grid.addEventListener("keydown", function (event) {
      const moves = { ArrowLeft: -1, ArrowRight: 1, ArrowUp: -columns(), ArrowDown: columns(), Home: -Infinity, End: Infinity };
      if (!(event.key in moves) || event.altKey || event.ctrlKey || event.metaKey) return;
      const card = event.target.closest("li.card");
      if (!card) return;
      const cards = Array.from(grid.querySelectorAll("li.card"));
      const index = cards.indexOf(card);
      const target = Math.min(cards.length - 1, Math.max(0, index + moves[event.key]));
      if (target === index) return;
      event.preventDefault();
      cards[target].querySelector("a.open").focus();
    });
  }

  // The header on a phone: hidden while scrolling down, back on any scroll up.
  const phone = window.matchMedia("(max-width: 760px)");
  let last = window.scrollY;
  window.addEventListener("scroll", function () {
    const now = window.scrollY;
    const hide = phone.matches && now > last && now > 80;
    document.documentElement.classList.toggle("header-hidden", hide);
    last = now;
  }, { passive: true });
  document.addEventListener("focusin", function (event) {
    if (event.target.closest(".top")) document.documentElement.classList.remove("header-hidden");
  });
})();
