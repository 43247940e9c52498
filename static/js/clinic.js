// Behaviour every page may use, wired here rather than in inline handlers: the
// Content-Security-Policy runs no inline script or on*= attribute.
(function () {
  // A button with data-action="print" prints the page (the portal's preparation sheet).
  document.querySelectorAll('[data-action="print"]').forEach(function (button) {
    button.addEventListener("click", function () { window.print(); });
  });
})();
