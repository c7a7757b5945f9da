// The timeline's month and day headings for pages loaded later (the server writes those of the
// first page): app.js asks before adding each card. Dates come as "2024-05-04T20:00:00" (the
// picture's local time, no zone), so they are read as written, never shifted.
"use strict";

(function () {
  const MONTH = { month: "long", year: "numeric" };
  const DAY = { weekday: "long", day: "numeric", month: "long", year: "numeric" };

  function calendarDate(text) {
    const [year, month, day] = text.slice(0, 10).split("-").map(Number);
    return new Date(year, month - 1, day);
  }

  function heading(level, className, key, value, text) {
    const item = document.createElement("li");
    item.className = "when " + className;
    item.dataset[key] = value;
    const title = document.createElement(level);
    title.textContent = text;
    item.appendChild(title);
    return item;
  }

  function last(grid, selector) {
    const found = grid.querySelectorAll(selector);
    return found.length ? found[found.length - 1] : null;
  }

  // Headings to put before a card of this date: a new month and a new day.
  function before(grid, result) {
    if (!grid.dataset.timeline || !result.date) return;
    const month = result.date.slice(0, 7);
    const day = result.date.slice(0, 10);
    const date = calendarDate(result.date);
    const lastMonth = last(grid, "li.when.month");
    if (!lastMonth || lastMonth.dataset.month !== month) {
      grid.appendChild(heading("h2", "month", "month", month, date.toLocaleDateString("en-GB", MONTH)));
    }
    const lastDay = last(grid, "li.when.day");
    if (!lastDay || lastDay.dataset.day !== day) {
      grid.appendChild(heading("h3", "day", "day", day, date.toLocaleDateString("en-GB", DAY).replace(",", "")));
    }
  }

  window.pixsiftTimeline = { before: before };
})();
