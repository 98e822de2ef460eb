// The desk's own script, kept small: pages work without it except for the
// live updates htmx brings. It moves focus to the main content after htmx
// replaces a whole page, so keyboard and screen-reader users follow.
document.addEventListener("htmx:afterSettle", function (event) {
  if (event.detail && event.detail.target && event.detail.target.id === "main") {
    event.detail.target.focus();
  }
});
