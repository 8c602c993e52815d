// Chorus explanation inspection: highlight the words of a post (the participant's rationale).
// Words are checkboxes (keyboard: Tab + Space; a click toggles one); a drag across words sets
// them all to the state the first word took. The hidden "words" field carries the indices.
// The model's attribution is shaded from each word's data-weight (no inline styles: CSP).
(function () {
  "use strict";
  if (window.chorusExplainRationale) return;
  window.chorusExplainRationale = true;

  function setup(post) {
    if (post.dataset.ready) return;
    post.dataset.ready = "1";
    const root = post.closest("[data-explain]");
    const field = root.querySelector("[data-words]");
    const boxes = Array.from(post.querySelectorAll("[data-word]"));
    let dragging = null; // the checked state a drag applies, or null

    function sync() {
      field.value = boxes.filter(function (b) { return b.checked; })
        .map(function (b) { return b.value; }).join(",");
      boxes.forEach(function (b) { b.parentElement.classList.toggle("picked", b.checked); });
    }

    boxes.forEach(function (box) {
      const label = box.parentElement;
      box.addEventListener("change", sync);
      label.addEventListener("pointerdown", function (event) {
        event.preventDefault();
        dragging = !box.checked;
        box.checked = dragging;
        box.focus();
        sync();
      });
      label.addEventListener("pointerenter", function () {
        if (dragging === null) return;
        box.checked = dragging;
        sync();
      });
      label.addEventListener("click", function (event) {
        if (event.detail > 0) event.preventDefault(); // a mouse click was handled on pointerdown
      });
    });
    document.addEventListener("pointerup", function () { dragging = null; });
    root.querySelectorAll("[data-weight]").forEach(function (span) {
      const w = parseFloat(span.dataset.weight) || 0;
      span.style.backgroundColor = "rgba(255, 140, 0, " + (0.1 + 0.8 * w).toFixed(2) + ")";
    });
    sync();
  }

  function init() { document.querySelectorAll("[data-rationale]").forEach(setup); }
  document.addEventListener("DOMContentLoaded", init);
  document.addEventListener("htmx:afterSettle", init);
  if (document.readyState !== "loading") init();
})();
