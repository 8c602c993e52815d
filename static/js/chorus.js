// Chorus: keyboard shortcuts for the annotate loop, copy buttons. No build step.
(function () {
  "use strict";

  function typing(target) {
    const tag = (target && target.tagName) || "";
    return tag === "INPUT" && !["radio", "checkbox", "button", "submit"].includes(target.type)
      || tag === "TEXTAREA" || tag === "SELECT" || (target && target.isContentEditable);
  }

  // A key pressed while the next item is being swapped in is replayed once htmx has
  // processed it; a key pressed while an answer is on its way is ignored (no double answers).
  let pendingKey = null;

  function press(key) {
    const card = document.getElementById("item-card");
    if (!card) return false;
    const target = card.querySelector('[data-key="' + CSS.escape(key) + '"]:not([disabled])');
    if (!target) return false;
    target.click();
    return true;
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
    if (!document.getElementById("item-card")) return;
    const key = event.key.toLowerCase();
    if (document.querySelector(".htmx-swapping, .htmx-settling, .htmx-added")) {
      pendingKey = key;
      event.preventDefault();
      return;
    }
    if (document.querySelector(".htmx-request")) return;
    if (press(key)) event.preventDefault();
  });

  document.addEventListener("htmx:afterSettle", function () {
    if (pendingKey !== null) {
      const key = pendingKey;
      pendingKey = null;
      setTimeout(function () { press(key); }, 0);
    }
  });

  // After htmx swaps in the next item, move focus to it so screen readers announce it.
  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail.target && event.detail.target.id === "item-card") {
      const card = document.getElementById("item-card");
      if (card) card.focus({ preventScroll: false });
    }
  });

  // A 503 means "briefly unavailable, nothing was stored" (a database restart): send the
  // same request once more after Retry-After, with the same values, so the same client
  // token; the server stores an answer once whatever happens. A second 503 reloads the page,
  // which shows the "try again" page while the outage lasts.
  document.addEventListener("htmx:responseError", function (event) {
    const xhr = event.detail.xhr;
    const config = event.detail.requestConfig;
    if (!xhr || xhr.status !== 503 || !config) return;
    if (!event.detail.elt || !event.detail.elt.closest("#item-card")) return;
    if (config.headers && config.headers["X-Chorus-Retry"]) {
      window.location.reload();
      return;
    }
    const wait = Math.min(parseInt(xhr.getResponseHeader("Retry-After"), 10) || 2, 10);
    const values = {};
    if (config.formData) config.formData.forEach(function (v, k) { values[k] = v; });
    setTimeout(function () {
      htmx.ajax(config.verb.toUpperCase(), config.path, {
        source: event.detail.elt,
        target: event.detail.target,
        swap: "outerHTML",
        values: values,
        headers: { "X-Chorus-Retry": "1" },
      });
    }, wait * 1000);
  });

  // A destructive form asks first (data-confirm holds the question). A script file, not an
  // inline handler: the Content-Security-Policy allows no inline script.
  document.addEventListener("submit", function (event) {
    const form = event.target;
    const question = form && form.dataset ? form.dataset.confirm : "";
    if (question && !window.confirm(question)) event.preventDefault();
  });

  document.addEventListener("click", function (event) {
    const button = event.target.closest("[data-copy]");
    if (!button) return;
    const source = document.getElementById(button.dataset.copy);
    if (!source) return;
    const text = source.value !== undefined ? source.value : source.textContent;
    navigator.clipboard.writeText(text.trim()).then(function () {
      const old = button.textContent;
      button.textContent = "Copied";
      setTimeout(function () { button.textContent = old; }, 1500);
    });
  });
})();
