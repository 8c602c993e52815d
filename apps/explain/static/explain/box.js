// Chorus explanation inspection: draw a box on a heatmap overlay.
// A drag (mouse, pen or touch: pointer events) spans a box; the keyboard places one (Enter),
// moves it (arrows) and resizes it (Shift + arrows). The box is kept in image pixels, corners
// inclusive, in the hidden inputs x0, y0, x1, y1; the server checks it lies inside the image.
(function () {
  "use strict";
  if (window.chorusExplainBox) return; // loaded again by an htmx swap: listeners are in place
  window.chorusExplainBox = true;

  function clamp(v, low, high) { return Math.max(low, Math.min(high, v)); }

  function setup(canvas) {
    if (canvas.dataset.ready) return;
    canvas.dataset.ready = "1";
    const root = canvas.closest("[data-explain]");
    const W = parseInt(canvas.dataset.width, 10);
    const H = parseInt(canvas.dataset.height, 10);
    const boxEl = canvas.querySelector("[data-box]");
    const readout = root.querySelector("[data-box-readout]");
    const field = function (name) { return root.querySelector('[data-box-field="' + name + '"]'); };
    let box = null;
    let anchor = null;

    function show() {
      if (!box) return;
      ["x0", "y0", "x1", "y1"].forEach(function (k) { field(k).value = String(box[k]); });
      boxEl.hidden = false;
      boxEl.style.left = (box.x0 / W * 100) + "%";
      boxEl.style.top = (box.y0 / H * 100) + "%";
      boxEl.style.width = ((box.x1 - box.x0 + 1) / W * 100) + "%";
      boxEl.style.height = ((box.y1 - box.y0 + 1) / H * 100) + "%";
      readout.textContent = "Box from (" + box.x0 + ", " + box.y0 + ") to (" + box.x1 + ", " +
        box.y1 + ") of a " + W + " × " + H + " image.";
    }

    function pixel(event) {
      const rect = canvas.getBoundingClientRect();
      return {
        x: clamp(Math.floor((event.clientX - rect.left) / rect.width * W), 0, W - 1),
        y: clamp(Math.floor((event.clientY - rect.top) / rect.height * H), 0, H - 1),
      };
    }

    function span(a, b) {
      box = {
        x0: Math.min(a.x, b.x), y0: Math.min(a.y, b.y),
        x1: Math.max(a.x, b.x), y1: Math.max(a.y, b.y),
      };
      show();
    }

    canvas.addEventListener("pointerdown", function (event) {
      event.preventDefault();
      canvas.setPointerCapture(event.pointerId);
      canvas.focus();
      anchor = pixel(event);
      span(anchor, anchor);
    });
    canvas.addEventListener("pointermove", function (event) {
      if (anchor) span(anchor, pixel(event));
    });
    ["pointerup", "pointercancel"].forEach(function (name) {
      canvas.addEventListener(name, function (event) {
        if (anchor) span(anchor, pixel(event));
        anchor = null;
      });
    });

    canvas.addEventListener("keydown", function (event) {
      const step = event.altKey ? 5 : 1;
      if (event.key === "Enter" || event.key === " ") {
        event.preventDefault();
        if (!box) {
          const w = Math.max(1, Math.round(W / 4)), h = Math.max(1, Math.round(H / 4));
          const x0 = Math.round((W - w) / 2), y0 = Math.round((H - h) / 2);
          box = { x0: x0, y0: y0, x1: x0 + w - 1, y1: y0 + h - 1 };
          show();
        }
        return;
      }
      const moves = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
      const move = moves[event.key];
      if (!move || !box) return;
      event.preventDefault();
      event.stopPropagation();
      const dx = move[0] * step, dy = move[1] * step;
      if (event.shiftKey) { // resize: the right/bottom edge follows the arrow
        box.x1 = clamp(box.x1 + dx, box.x0, W - 1);
        box.y1 = clamp(box.y1 + dy, box.y0, H - 1);
      } else {
        const ox = clamp(dx, -box.x0, W - 1 - box.x1), oy = clamp(dy, -box.y0, H - 1 - box.y1);
        box.x0 += ox; box.x1 += ox; box.y0 += oy; box.y1 += oy;
      }
      show();
    });

    const given = ["x0", "y0", "x1", "y1"].map(function (k) { return field(k).value; });
    if (given.every(function (v) { return v !== ""; })) {
      box = { x0: +given[0], y0: +given[1], x1: +given[2], y1: +given[3] };
      show();
    }
  }

  function init() { document.querySelectorAll("[data-box-canvas]").forEach(setup); }
  document.addEventListener("DOMContentLoaded", init);
  document.addEventListener("htmx:afterSettle", init);
  if (document.readyState !== "loading") init();
})();
