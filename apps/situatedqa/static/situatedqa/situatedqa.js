// Chorus SituatedQA forms: the checks the server makes, made as the participant types, with
// the message beside the field (apps/situatedqa/answers.py has the same rules and wording,
// carried here in data attributes). A field the browser refuses blocks the submit, and the
// "invalid" event puts its message under it.
(function () {
  "use strict";
  if (window.chorusSituatedQA) return;
  window.chorusSituatedQA = true;

  const YEAR = /\d{4}/;
  const PUNCTUATION = /[!"#$%&'()*+,\-./:;<=>?@[\\\]^_`{|}~]/g;

  // The SQuAD normal form the scorer compares (ml/situatedqa/evaluate.py).
  function normal(text) {
    return (text || "").normalize("NFD").toLowerCase().replace(PUNCTUATION, "")
      .replace(/\b(a|an|the)\b/g, " ").split(/\s+/).filter(Boolean).join(" ");
  }

  function fill(template, values) {
    return (template || "").replace(/\{(\w+)\}/g, function (_, key) {
      return values[key] !== undefined ? values[key] : "";
    });
  }

  function show(input) {
    const box = input.id && document.getElementById(input.id + "-error");
    const valid = input.disabled || input.validity.valid;
    input.setAttribute("aria-invalid", valid ? "false" : "true");
    if (!box) return;
    box.textContent = valid ? "" : input.validationMessage;
    box.hidden = valid;
  }

  function refresh(input) {
    // A message already shown follows the field as it changes.
    const box = input.id && document.getElementById(input.id + "-error");
    if (box && !box.hidden) show(input);
  }

  function checkAnswerGroup(group) {
    const missing = group.querySelector("[data-missing]");
    const off = !!(missing && missing.checked) || group.closest("fieldset[disabled]") !== null;
    group.querySelectorAll("[data-needed]").forEach(function (input) {
      input.disabled = !!(missing && missing.checked);
      let message = "";
      const value = input.value.trim();
      if (!off && !value) message = input.dataset.needed;
      else if (!off && input.hasAttribute("data-year") && !YEAR.test(value)) {
        message = fill(input.dataset.yearMessage, { date: value });
      }
      input.setCustomValidity(message);
      refresh(input);
    });
  }

  function checkPairs(box) {
    const noOther = box.querySelector("[data-no-other]");
    const givenLocation = box.dataset.givenLocation || "";
    let givenAnswers = [];
    try { givenAnswers = JSON.parse(box.dataset.givenAnswers || "[]").map(normal); } catch (e) { givenAnswers = []; }
    const pairs = Array.from(box.querySelectorAll("[data-pair]")).map(function (row) {
      return {
        n: row.dataset.pair,
        location: row.querySelector("[data-geo-location]"),
        answer: row.querySelector("[data-geo-answer]"),
      };
    });
    const off = box.closest("fieldset[disabled]") !== null;
    const filled = pairs.filter(function (p) { return p.location.value.trim() || p.answer.value.trim(); });
    let wantMore = !off && !(noOther && noOther.checked) && filled.length < 2;
    pairs.forEach(function (p, index) {
      const location = p.location.value.trim();
      const answer = p.answer.value.trim();
      let onLocation = "";
      let onAnswer = "";
      if (!off && (location || answer)) {
        if (!location) onLocation = fill(box.dataset.msgIncomplete, { n: p.n });
        else if (!answer) onAnswer = fill(box.dataset.msgIncomplete, { n: p.n });
        else if (givenLocation && normal(location) === normal(givenLocation)) {
          onLocation = fill(box.dataset.msgGivenLocation, { location: location });
        } else if (givenAnswers.indexOf(normal(answer)) >= 0) {
          onAnswer = fill(box.dataset.msgGivenAnswer, { answer: answer, place: givenLocation });
        }
        if (index === 1 && location && answer) {
          const first = pairs[0];
          if (!onLocation && normal(location) === normal(first.location.value)) onLocation = box.dataset.msgSameLocations;
          if (!onAnswer && normal(answer) === normal(first.answer.value)) onAnswer = box.dataset.msgSameAnswers;
        }
      } else if (wantMore) {
        onLocation = box.dataset.msgTwo;
        wantMore = false; // the first empty pair says it
      }
      p.location.setCustomValidity(onLocation);
      p.answer.setCustomValidity(onAnswer);
      refresh(p.location);
      refresh(p.answer);
    });
  }

  function checkCorrection(root) {
    const part = root.querySelector("[data-correction]");
    if (!part) return;
    const no = root.querySelector("[data-correct-no]");
    const give = root.querySelector("[data-give-correction]");
    const label = root.querySelector("[data-give-label]");
    const saysNo = !!(no && no.checked);
    if (label) label.hidden = !saysNo;
    const open = saysNo && !!(give && give.checked);
    part.disabled = !open;
    part.hidden = !open;
  }

  function check(root) {
    checkCorrection(root);
    root.querySelectorAll("[data-answer-group]").forEach(checkAnswerGroup);
    root.querySelectorAll("[data-geo-pairs]").forEach(checkPairs);
  }

  // A message first shows when the participant submits (not when they leave a field: the
  // message appearing would move the page under the pointer on its way to the next field).
  function onChange(event) {
    const root = event.target.closest && event.target.closest("[data-sqa]");
    if (root) check(root);
  }

  document.addEventListener("input", onChange);
  document.addEventListener("change", onChange);
  // "invalid" does not bubble: listen while it goes down to the field.
  document.addEventListener("invalid", function (event) {
    if (event.target.closest && event.target.closest("[data-sqa]")) show(event.target);
  }, true);

  function init() { document.querySelectorAll("[data-sqa]").forEach(check); }
  document.addEventListener("DOMContentLoaded", init);
  document.addEventListener("htmx:afterSettle", init);
  if (document.readyState !== "loading") init();
})();
