// The review queue: one item at a time, driven from the keyboard.
// Enter confirms (or corrects with the typed value), "-" marks blank, Escape skips,
// "*" opens the whole page. The value input keeps the focus while an item is shown.
(function () {
  "use strict";

  var FIELD_KINDS = ["field", "qa_sample"];
  var token = document.querySelector('meta[name="csrf-token"]').getAttribute("content");
  var section = document.getElementById("item");
  var input = document.getElementById("value");
  var message = document.getElementById("message");
  var remaining = document.getElementById("remaining");
  var pageView = document.getElementById("page-view");
  var pageImage = document.getElementById("page-image");
  var group = new URLSearchParams(window.location.search).get("group");
  var current = null;
  var busy = false;
  var skipped = [];

  function $(id) {
    return document.getElementById(id);
  }

  function say(text, isError) {
    message.textContent = text;
    message.className = isError ? "error" : "notice";
  }

  function post(path, body) {
    return fetch(path, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        "Accept": "application/json",
        "X-CSRF-Token": token
      },
      body: JSON.stringify(body || {})
    }).then(function (response) {
      return response.json().catch(function () {
        return { detail: "the server answered " + response.status };
      }).then(function (data) {
        return { ok: response.ok, status: response.status, data: data };
      });
    });
  }

  function isField(item) {
    return FIELD_KINDS.indexOf(item.kind) >= 0;
  }

  function setText(id, text) {
    $(id).textContent = text === null || text === undefined || text === "" ? "–" : String(text);
  }

  function focusInput() {
    if (current && document.activeElement !== input) {
      input.focus();
    }
  }

  function closePage() {
    pageView.hidden = true;
    pageImage.src = "data:,";
  }

  function togglePage() {
    if (!current) {
      return;
    }
    if (pageView.hidden) {
      pageImage.src = current.page_url;
      pageView.hidden = false;
    } else {
      closePage();
    }
  }

  function showEmpty(count) {
    current = null;
    remaining.textContent = String(count || 0);
    var empty = document.createElement("p");
    empty.id = "empty";
    empty.textContent = "Nothing to review.";
    section.replaceWith(empty);
  }

  function show(item, count) {
    current = item;
    remaining.textContent = String(count);
    closePage();
    section.dataset.itemId = String(item.id);
    section.dataset.kind = item.kind;
    var pageKind = item.kind === "unidentified_page" || item.kind === "unregistered_page";
    var evidence = $("evidence");
    evidence.src = pageKind ? item.page_url : item.evidence_url;
    evidence.classList.toggle("whole-page", pageKind || item.kind === "flag");

    var label = $("kind-label");
    label.textContent = item.kind === "flag" ? "flag " + (item.severity || "") : item.kind.replace("_", " ");
    label.className = "badge" + (item.severity === "red" ? " red" : item.severity === "yellow" ? " yellow" : "");
    setText("field-name", item.field_name || item.flag_code || "");
    if (isField(item)) {
      setText("machine-value", item.machine_value === null ? "blank" : item.machine_value);
      setText("confidence", item.confidence === null ? "" : "confidence " + item.confidence.toFixed(2) +
        (item.reason ? " (" + item.reason + ")" : ""));
    } else {
      setText("machine-value", item.kind === "flag" ? item.flag_code : "a whole page");
      setText("confidence", "");
    }
    var nowValue = $("now-value");
    nowValue.hidden = !(isField(item) && item.value !== item.machine_value);
    nowValue.textContent = nowValue.hidden ? "" : "Now: " + (item.value || "blank");
    var flagMessage = $("flag-message");
    flagMessage.hidden = !item.message;
    flagMessage.textContent = item.message || "";

    var serial = $("serial-link");
    serial.textContent = item.serial || "no sheet known";
    serial.href = item.sheet_url || "/sheets";
    setText("deadline", item.deadline ? "due " + item.deadline : "");
    setText("date", item.date);
    setText("weekday", item.weekday);
    setText("authorized", item.authorized);
    setText("other-time", item.other_time);
    setText("day-flags", (item.day_flags || []).join(", "));

    var actions = $("page-actions");
    var identify = $("identify-link");
    actions.hidden = item.kind !== "unidentified_page";
    identify.href = item.identify_url || "/review/pages";
    var hint;
    if (isField(item)) {
      hint = "Your value (Enter confirms the machine's, - marks blank)";
    } else if (item.kind === "flag") {
      hint = item.severity === "red" ? "Reason to let this red flag stand" : "Reason (optional), Enter accepts the flag";
    } else if (item.kind === "unidentified_page") {
      hint = "Identify this page, or Esc to skip";
    } else {
      hint = "Key this page's fields on its sheet page, or Esc to skip";
    }
    $("value-label").textContent = hint;
    input.value = "";
    section.hidden = false;
    input.focus();
  }

  function loadNext() {
    busy = true;
    var body = { skip: skipped.slice(-400) };
    if (group) {
      body.group = group;
    }
    return post("/review/next", body).then(function (answer) {
      busy = false;
      if (!answer.ok) {
        say(answer.data.detail || "could not load the next item", true);
        return;
      }
      if (answer.data.item) {
        show(answer.data.item, answer.data.remaining);
      } else {
        showEmpty(answer.data.remaining);
      }
    }, function () {
      busy = false;
      say("the server cannot be reached; try again", true);
    });
  }

  function outcome(decision) {
    if (decision.resolution === "corrected") {
      return decision.value === null ? "blank" : "saved " + decision.value;
    }
    if (decision.resolution === "not_a_sheet") {
      return "not a sheet";
    }
    return "confirmed";
  }

  // Send a decision; on success show what happened and load the next item.
  function decide(path, body) {
    if (busy || !current) {
      return;
    }
    busy = true;
    post(path, body).then(function (answer) {
      busy = false;
      if (answer.ok) {
        say(outcome(answer.data), false);
        loadNext();
      } else if (answer.status === 409 || answer.status === 404) {
        // Someone else saved or holds it: show why, then the queue as it is now.
        say(answer.data.detail || "the item changed", true);
        loadNext();
      } else {
        say(answer.data.detail || "not saved", true);
        input.select();
        focusInput();
      }
    }, function () {
      busy = false;
      say("the server cannot be reached; nothing was saved", true);
      focusInput();
    });
  }

  function itemPath(action) {
    return "/review/items/" + current.id + "/" + action;
  }

  function skip() {
    if (busy || !current) {
      return;
    }
    busy = true;
    var id = current.id;
    post(itemPath("skip")).then(function (answer) {
      busy = false;
      skipped.push(id);
      say(answer.ok ? "skipped" : answer.data.detail || "could not skip", !answer.ok);
      loadNext();
    }, function () {
      busy = false;
      say("the server cannot be reached", true);
      focusInput();
    });
  }

  function enter() {
    var text = input.value.trim();
    var item = current;
    if (isField(item)) {
      if (text === "") {
        decide(itemPath("accept"), { version: item.version, reason: null });
      } else {
        decide(itemPath("correct"), { value: text, version: item.version, reason: null });
      }
    } else if (item.kind === "flag") {
      if (item.severity === "red" && text === "") {
        say("a red flag needs a reason", true);
        return;
      }
      decide(itemPath("accept"), { version: null, reason: text || null });
    } else if (item.kind === "unidentified_page") {
      say("identify this page with the link, or press Esc to skip", true);
    } else {
      say("key this page's fields on its sheet page, or press Esc to skip", true);
    }
  }

  input.addEventListener("keydown", function (event) {
    if (!current || event.ctrlKey || event.altKey || event.metaKey) {
      return;
    }
    if (event.key === "Enter") {
      event.preventDefault();
      if (!busy) {
        enter();
      }
    } else if (event.key === "-" && input.value === "" && isField(current)) {
      event.preventDefault();
      decide(itemPath("correct"), { value: "blank", version: current.version, reason: null });
    } else if (event.key === "*" && input.value === "") {
      event.preventDefault();
      togglePage();
    }
  });

  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape" || !current) {
      return;
    }
    event.preventDefault();
    if (!pageView.hidden) {
      closePage();
      focusInput();
    } else {
      skip();
    }
  });

  // A click anywhere but on a control gives the focus back to the value input.
  document.addEventListener("click", function (event) {
    if (!current || event.target.closest("a, button, input, select, textarea, label")) {
      return;
    }
    focusInput();
  });

  $("value-form").addEventListener("submit", function (event) {
    event.preventDefault();
  });

  $("not-a-sheet").addEventListener("click", function () {
    if (current && current.kind === "unidentified_page") {
      decide(itemPath("accept"), { version: null, reason: "not a sheet" });
    }
    focusInput();
  });

  window.addEventListener("focus", focusInput);
  loadNext();
})();
