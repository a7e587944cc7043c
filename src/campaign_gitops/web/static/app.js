// campaign-gitops UI: the one piece of hand-written script (CSP allows only 'self').
// Marks the campaign row whose overview is in the pane.
document.addEventListener("htmx:beforeRequest", function (event) {
  var row = event.detail.elt.closest ? event.detail.elt.closest("tr.row") : null;
  if (!row) return;
  document.querySelectorAll("tr.row.selected").forEach(function (r) {
    r.classList.remove("selected");
  });
  row.classList.add("selected");
});

// Enter on a focused row opens it, like a click (no eval'd trigger filters under the CSP).
document.addEventListener("keydown", function (event) {
  if (event.key === "Enter" && event.target.matches && event.target.matches("tr.row")) {
    event.target.click();
  }
});
