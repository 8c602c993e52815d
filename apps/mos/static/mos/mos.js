// Chorus listening tests: play buttons, "heard to the end" tracking, unlocking the rating.
// The server keeps the real check (it refuses an answer before a clip could have been heard);
// this script reports each start and end to it and opens the controls for the listener.
(function () {
  "use strict";
  if (window.chorusMos) return; // loaded again by an htmx swap: the listeners are in place
  window.chorusMos = true;

  function csrf(element) {
    const form = element.closest("form") || document;
    const input = form.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function report(audio, event) {
    const body = new URLSearchParams({ event: event });
    return fetch(audio.dataset.playedUrl, {
      method: "POST",
      body: body,
      headers: { "X-CSRFToken": csrf(audio) },
      credentials: "same-origin",
    }).catch(function () { /* the server refuses the answer if a report was lost */ });
  }

  function refresh(root) {
    const clips = Array.from(root.querySelectorAll("[data-clip] audio:not([data-optional])"));
    const heard = clips.every(function (a) { return a.hasAttribute("data-heard"); });
    const rating = root.querySelector("[data-rating]");
    if (rating) rating.disabled = !heard;
    root.classList.toggle("unlocked", heard);
    if (root.hasAttribute("data-mushra")) {
      root.querySelectorAll(".mushra-row").forEach(function (row) {
        const audio = row.querySelector("audio");
        const slider = row.querySelector("input[type=range]");
        if (audio && slider) slider.disabled = !audio.hasAttribute("data-heard");
      });
    }
  }

  function status(clip, text) {
    const el = clip.querySelector("[data-status]");
    if (el) el.textContent = text;
  }

  document.addEventListener("click", function (event) {
    const button = event.target.closest("[data-play]");
    if (!button) return;
    const clip = button.closest("[data-clip]");
    const audio = clip.querySelector("audio");
    const root = clip.closest("[data-mos]");
    if (!audio.paused) { audio.pause(); return; }
    // One clip at a time: starting one pauses the others (MUSHRA's free switching).
    root.querySelectorAll("audio").forEach(function (other) {
      if (other !== audio && !other.paused) other.pause();
    });
    // A new play from the start is reported; resuming after a pause is not (the server
    // measures from the first start, so pausing never shortens what must be heard).
    if (!audio.dataset.started || audio.ended) {
      audio.currentTime = 0;
      audio.dataset.started = "1";
      report(audio, "started");
    }
    audio.play();
  });

  // Media events do not bubble: listen in the capture phase.
  document.addEventListener("play", function (event) {
    const clip = event.target.closest && event.target.closest("[data-clip]");
    if (!clip) return;
    clip.classList.add("playing");
    status(clip, "Playing…");
    const icon = clip.querySelector(".play-icon");
    if (icon) icon.textContent = "❚❚";
  }, true);

  document.addEventListener("pause", function (event) {
    const clip = event.target.closest && event.target.closest("[data-clip]");
    if (!clip) return;
    clip.classList.remove("playing");
    const icon = clip.querySelector(".play-icon");
    if (icon) icon.textContent = "▶";
    if (!event.target.ended) {
      status(clip, event.target.hasAttribute("data-heard") ? "Heard" : "Paused — play it to the end");
    }
  }, true);

  document.addEventListener("timeupdate", function (event) {
    const clip = event.target.closest && event.target.closest("[data-clip]");
    if (!clip || !event.target.duration) return;
    const bar = clip.querySelector(".clip-progress-bar");
    if (bar && !event.target.hasAttribute("data-heard")) {
      bar.style.width = (100 * event.target.currentTime / event.target.duration) + "%";
    }
  }, true);

  document.addEventListener("ended", function (event) {
    const audio = event.target;
    const clip = audio.closest && audio.closest("[data-clip]");
    if (!clip) return;
    report(audio, "ended").then(function () {
      audio.setAttribute("data-heard", "");
      clip.classList.add("heard");
      status(clip, "Heard");
      const root = clip.closest("[data-mos]");
      if (root) refresh(root);
    });
  }, true);

  // A MUSHRA slider is rated once it was moved: only then does it get its field name.
  document.addEventListener("input", function (event) {
    const slider = event.target;
    if (!slider.matches || !slider.matches("[data-mushra] input[type=range]")) return;
    slider.name = slider.dataset.name;
    const output = slider.parentElement.querySelector("[data-output]");
    if (output) output.textContent = slider.value;
  });

  function init() {
    document.querySelectorAll("[data-mos]").forEach(refresh);
  }
  document.addEventListener("DOMContentLoaded", init);
  document.addEventListener("htmx:afterSettle", init);
  if (document.readyState !== "loading") init();
})();
