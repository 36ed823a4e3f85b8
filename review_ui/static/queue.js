// The review screen: one sheet at a time, its open items worked top to bottom with the
// keyboard (review_ui/routes/screen.py serves the sheet; decisions go to the item routes).
//
// Keys, with the cursor in the value box (it keeps the focus):
//   Enter            confirm the highlighted field, or accept a yellow finding; with a typed
//                    value: correct the field; with typed text: accept the finding with it as
//                    the reason (a red finding needs one); on an unregistered page: key it
//   -                (empty box) the field is blank
//   ArrowDown / Up   the next / previous item without deciding
//   !                (empty box) return the sheet: Enter returns it, Escape goes back
//   Escape           clear the typed text; with the box empty, skip the sheet (its items go
//                    back to the queue) and the next sheet comes
//
// Stale-image guard: an item's value and its crop appear together, once the crop has loaded;
// until then Enter does nothing. A decision names the item and the version on screen.
//
// DOM hooks (stable: scripted reviewers such as scripts/bench_review.py read them):
//   #sheet            data-serial, data-sheet-id of the sheet on screen
//   #item             data-item-id, data-kind (field | qa_sample | finding | unregistered_page),
//                     data-version (a field's version, a finding's finding_version),
//                     data-ready ("true" once the crop has loaded: only then does Enter act),
//                     data-pending-id (the item whose crop is loading, "" when none),
//                     data-severity, data-field-name, data-flag-code, data-days (ISO, commas),
//                     data-value (the field's value now; "" when blank)
//   #evidence         the current item's crop (an <img>, replaced per item)
//   #value            the box that takes the keys; #message the status line
//   #items li         the sheet's open items top to bottom (data-item-id; .current)
//   #return-panel, #return-reason, #notice-link (after a return)
//   #empty            present when no sheet is waiting
(function () {
  "use strict";

  var FIELD_KINDS = ["field", "qa_sample"];
  var SVG = "http://www.w3.org/2000/svg";
  var token = document.querySelector('meta[name="csrf-token"]').getAttribute("content");

  function $(id) {
    return document.getElementById(id);
  }

  var sheetBox = $("sheet");
  var section = $("item");
  var input = $("value");
  var message = $("message");
  var list = $("items");
  var pageBox = $("page-box");
  var pageImage = $("page-image");
  var boxes = $("page-boxes");
  var returnPanel = $("return-panel");
  var returnReason = $("return-reason");

  var sheet = null; // the sheet on screen, as the server last sent it
  var items = []; // its open items, top to bottom
  var current = null; // the item whose crop and value are on screen: decisions go to it
  var pending = null; // the item being shown while its crop loads
  var ready = false; // Enter acts only once the current item's crop has loaded
  var busy = false; // a request is under way
  var skipped = []; // sheets given back with Escape (ids): not offered again on this page
  var passed = {}; // items moved past with the arrow keys, on this sheet
  var crops = {}; // item id -> {img, state: "loading" | "loaded" | "error", url}

  // --- talking to the server -----------------------------------------------------------------

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

  function say(text, isError) {
    message.textContent = text;
    message.className = isError ? "error" : "notice";
  }

  function setText(id, text) {
    $(id).textContent = text === null || text === undefined || text === "" ? "–" : String(text);
  }

  function isField(item) {
    return FIELD_KINDS.indexOf(item.kind) >= 0;
  }

  function isFinding(item) {
    return item.kind === "finding" || item.kind === "flag";
  }

  function focusInput() {
    if (!sheet) {
      return;
    }
    var target = returnPanel.hidden ? input : returnReason;
    if (document.activeElement !== target) {
      target.focus({ preventScroll: true });
    }
  }

  // The item's crop, value and box in view together (a phone shows them one under another).
  function keepInView() {
    var top = section.getBoundingClientRect().top;
    var bottom = $("value-form").getBoundingClientRect().bottom;
    if (top < 0 || bottom > window.innerHeight) {
      window.scrollBy(0, bottom - top < window.innerHeight ? top - 8 : bottom - window.innerHeight + 8);
    }
  }

  // --- crops: loaded ahead, shown only once loaded ----------------------------------------------

  function crop(item) {
    var entry = crops[item.id];
    if (entry && entry.url === item.evidence_url) {
      return entry;
    }
    var img = new Image();
    entry = { img: img, state: "loading", url: item.evidence_url };
    img.alt = "the scan of: " + item.label;
    img.addEventListener("load", function () {
      entry.state = "loaded";
      arrived(item.id, entry);
    });
    img.addEventListener("error", function () {
      entry.state = "error";
      arrived(item.id, entry);
    });
    img.src = item.evidence_url;
    crops[item.id] = entry;
    return entry;
  }

  function arrived(id, entry) {
    if (pending && pending.id === id && crops[id] === entry) {
      reveal(pending, entry);
    }
  }

  function prefetch(index) {
    for (var k = index + 1; k <= index + 2 && k < items.length; k += 1) {
      crop(items[k]);
    }
  }

  // --- the sheet ----------------------------------------------------------------------------

  function updateStats(stats) {
    if (!stats) {
      return;
    }
    $("remaining-sheets").textContent = String(stats.sheets_needing_review);
    $("remaining-decisions").textContent = String(stats.decisions);
  }

  function setSheet() {
    crops = {};
    passed = {};
    sheetBox.dataset.serial = sheet.serial;
    sheetBox.dataset.sheetId = String(sheet.id);
    sheetBox.classList.toggle("unregistered", !sheet.registered);
    $("sheet-title").textContent = "Sheet " + sheet.serial_display;
    document.title = "Sheet " + sheet.serial_display + " · Review";
    var link = $("sheet-link");
    link.textContent = sheet.serial_display;
    link.href = sheet.sheet_url;
    setText("sheet-month", sheet.month);
    setText("sheet-child", sheet.child_name + " (" + sheet.certificate_id + ")");
    setText("sheet-provider", sheet.provider_name + " (" + sheet.provider_id + ")");
    setText("sheet-schedule", sheet.schedule);
    setText("sheet-deadline", sheet.deadline);
    pageBox.hidden = !sheet.registered;
    pageImage.src = sheet.registered ? sheet.page_url : "data:,";
    var empty = $("empty");
    if (empty) {
      empty.remove();
    }
    sheetBox.hidden = false;
  }

  function drawBoxes() {
    while (boxes.firstChild) {
      boxes.removeChild(boxes.firstChild);
    }
    items.forEach(function (item) {
      var group = document.createElementNS(SVG, "g");
      group.setAttribute("data-item-id", String(item.id));
      group.setAttribute("class", "box " + (item.severity === "red" ? "red" : isFinding(item) ? "finding" : "field"));
      (item.rects || []).forEach(function (r) {
        var rect = document.createElementNS(SVG, "rect");
        rect.setAttribute("x", String(r[0] - 1.5));
        rect.setAttribute("y", String(r[1] - 1.5));
        rect.setAttribute("width", String(r[2] + 3));
        rect.setAttribute("height", String(r[3] + 3));
        group.appendChild(rect);
      });
      group.addEventListener("click", function () {
        choose(item.id);
      });
      boxes.appendChild(group);
    });
  }

  function shortValue(item) {
    if (isField(item)) {
      return item.value === null ? "blank" : item.value;
    }
    if (isFinding(item)) {
      return item.severity || "";
    }
    return "key or return";
  }

  function renderList() {
    while (list.firstChild) {
      list.removeChild(list.firstChild);
    }
    items.forEach(function (item) {
      var li = document.createElement("li");
      li.dataset.itemId = String(item.id);
      li.dataset.kind = item.kind;
      var label = document.createElement("span");
      label.className = "label";
      label.textContent = item.label;
      var value = document.createElement("span");
      value.className = "value" + (item.severity ? " " + item.severity : "");
      value.textContent = shortValue(item);
      li.appendChild(label);
      li.appendChild(value);
      li.addEventListener("click", function () {
        choose(item.id);
      });
      list.appendChild(li);
    });
  }

  function markCurrent(item) {
    Array.prototype.forEach.call(list.children, function (li) {
      li.classList.toggle("current", li.dataset.itemId === String(item.id));
    });
    var shown = null;
    Array.prototype.forEach.call(boxes.children, function (group) {
      var on = group.getAttribute("data-item-id") === String(item.id);
      group.classList.toggle("current", on);
      if (on) {
        shown = group;
      }
    });
    // Keep the highlighted box in view where the page scrolls beside the item (desktop).
    if (shown && shown.firstChild && pageBox.scrollHeight > pageBox.clientHeight + 4) {
      var box = shown.firstChild.getBoundingClientRect();
      var frame = pageBox.getBoundingClientRect();
      if (box.top < frame.top || box.bottom > frame.bottom) {
        pageBox.scrollTop += box.top - frame.top - pageBox.clientHeight / 3;
      }
    }
  }

  // --- one item -----------------------------------------------------------------------------

  function show(index) {
    var item = items[index];
    pending = item;
    ready = false;
    section.dataset.pendingId = String(item.id);
    section.dataset.ready = "false";
    section.setAttribute("aria-busy", "true");
    section.classList.add("loading");
    var entry = crop(item);
    if (entry.state !== "loading") {
      reveal(item, entry);
    }
  }

  function fill(item) {
    var badge = $("kind-label");
    if (isFinding(item)) {
      badge.textContent = "finding " + (item.severity || "");
    } else if (item.kind === "qa_sample") {
      badge.textContent = "QA check";
    } else if (isField(item)) {
      badge.textContent = item.field_kind || "field";
    } else {
      badge.textContent = "page";
    }
    badge.className = "badge" + (item.severity ? " " + item.severity : "");
    setText("item-label", item.label);
    setText("position", (items.indexOf(item) + 1) + " of " + items.length + " on this sheet");

    var field = isField(item);
    $("machine-line").hidden = !field;
    $("day-context").hidden = !(field && item.date);
    if (field) {
      setText("machine-value", item.machine_value === null ? "blank" : item.machine_value);
      $("machine-12h").textContent = item.machine_12h ? "(" + item.machine_12h + ")" : "";
      var sure = item.confidence === null ? "" : "confidence " + item.confidence.toFixed(2);
      $("confidence").textContent = sure + (item.reason_text ? " · " + item.reason_text : "");
      setText("authorized", item.authorized);
      setText("other-time", item.other_time);
    }
    var now = $("now-value");
    now.hidden = !(field && item.value !== item.machine_value);
    now.textContent = now.hidden ? "" : "Now: " + (item.value === null ? "blank" : item.value);
    var ampm = $("ampm-note");
    ampm.hidden = !item.ampm;
    ampm.textContent = item.ampm === "inferred"
      ? "AM/PM inferred: neither box is ticked. Check the time of day against the page."
      : item.ampm === "both" ? "Both AM and PM are ticked." : "";

    var note = $("item-message");
    var days = $("item-days");
    while (days.firstChild) {
      days.removeChild(days.firstChild);
    }
    if (isFinding(item)) {
      note.hidden = false;
      note.textContent = item.message || item.meaning || "";
      (item.rows || []).forEach(function (row) {
        var li = document.createElement("li");
        var day = document.createElement("strong");
        day.textContent = row.day;
        li.appendChild(day);
        li.appendChild(document.createTextNode(" · authorized " + row.authorized + " · " + row.message));
        days.appendChild(li);
      });
    } else if (item.kind === "unregistered_page") {
      note.hidden = false;
      note.textContent = "This page could not be registered, so nothing on it was read. Key its " +
        "fields (e.g. 5.in=7:30 5.out=5:30p 12.ci=x parent=signed provider=signed; fields " +
        "not named are blank), or press ! to return the sheet.";
    } else {
      note.hidden = true;
      note.textContent = "";
    }
    days.hidden = !days.firstChild;

    var hint;
    if (field) {
      hint = "Your value (Enter confirms " + (item.value === null ? "blank" : item.value) + ", - marks blank)";
    } else if (isFinding(item)) {
      hint = item.severity === "red"
        ? "Reason to let this red finding stand (needed), then Enter"
        : "Reason (optional), Enter accepts the finding";
    } else {
      hint = "The page's fields as FIELD=VALUE pairs, then Enter";
    }
    $("value-label").textContent = hint;
  }

  function reveal(item, entry) {
    var old = $("evidence");
    if (old !== entry.img) {
      old.removeAttribute("id");
      entry.img.id = "evidence";
      old.replaceWith(entry.img);
    }
    entry.img.className = "crop-" + (isField(item) ? item.field_kind || "field" : isFinding(item) ? "finding" : "page");
    fill(item);
    current = item;
    pending = null;
    section.dataset.itemId = String(item.id);
    section.dataset.kind = item.kind;
    section.dataset.version = item.version === null ? (item.finding_version || "") : String(item.version);
    section.dataset.severity = item.severity || "";
    section.dataset.fieldName = item.field_name || "";
    section.dataset.flagCode = item.flag_code || "";
    section.dataset.days = (item.days || []).join(",");
    section.dataset.value = isField(item) && item.value !== null ? item.value : "";
    ready = true;
    section.dataset.pendingId = "";
    section.dataset.ready = "true";
    section.setAttribute("aria-busy", "false");
    section.classList.remove("loading");
    markCurrent(item);
    input.value = "";
    if (entry.state === "error") {
      say("the image of this item could not be loaded: judge it on the page, or skip the sheet", true);
    }
    focusInput();
    keepInView();
    prefetch(items.indexOf(item));
  }

  function pick(previousIndex) {
    // Top to bottom: the first item not moved past with the arrows (all passed: from the top).
    for (var k = 0; k < items.length; k += 1) {
      if (!passed[items[k].id]) {
        return k;
      }
    }
    passed = {};
    return Math.min(Math.max(previousIndex, 0), items.length - 1);
  }

  function choose(id) {
    if (busy || !returnPanel.hidden) {
      return;
    }
    for (var k = 0; k < items.length; k += 1) {
      if (items[k].id === id) {
        show(k);
        break;
      }
    }
    focusInput();
  }

  function move(step) {
    var shown = pending || current;
    var index = items.indexOf(shown);
    var next = index + step;
    if (next < 0 || next >= items.length) {
      return;
    }
    if (step > 0 && shown) {
      passed[shown.id] = true;
    } else if (items[next]) {
      delete passed[items[next].id];
    }
    show(next);
  }

  // --- the queue: a sheet, the next sheet, nothing left ------------------------------------------

  function showEmpty() {
    sheet = null;
    current = pending = null;
    items = [];
    ready = false;
    section.dataset.pendingId = "";
    sheetBox.hidden = true;
    $("sheet-title").textContent = "Review";
    if (!$("empty")) {
      var empty = document.createElement("p");
      empty.id = "empty";
      empty.textContent = "No sheet is waiting for review.";
      sheetBox.after(empty);
    }
  }

  function load(answer) {
    busy = false;
    if (!answer.ok) {
      say(answer.data.detail || "could not load the next sheet", true);
      return;
    }
    var data = answer.data;
    updateStats(data.stats);
    if (data.previous && data.previous.status) {
      var done = "sheet " + data.previous.serial_display + " is done (" +
        data.previous.status.replace("_", " ") + ")";
      say(message.textContent && message.className !== "error" ? message.textContent + " · " + done : done, false);
    }
    if (!data.sheet) {
      showEmpty();
      return;
    }
    var before = current ? items.indexOf(current) : 0;
    var fresh = !sheet || data.sheet.id !== sheet.id;
    sheet = data.sheet;
    items = sheet.items;
    if (fresh) {
      setSheet();
      before = 0;
    }
    drawBoxes();
    renderList();
    show(pick(before));
  }

  function nextSheet(serial) {
    busy = true;
    var body = { skip: skipped.slice(-400) };
    if (serial) {
      body.serial = serial;
    }
    return post("/review/sheets/next", body).then(load, function () {
      busy = false;
      say("the server cannot be reached; try again", true);
    });
  }

  // --- decisions ----------------------------------------------------------------------------

  function outcome(item, decision) {
    if (decision.resolution === "corrected") {
      return (decision.value === null ? "blank: " : "saved " + decision.value + ": ") + item.label;
    }
    if (decision.resolution === "keyed") {
      return "page keyed";
    }
    return (isFinding(item) ? "accepted: " : "confirmed: ") + item.label;
  }

  function decide(item, action, body) {
    if (busy || !ready || item !== current) {
      return;
    }
    busy = true;
    post("/review/items/" + item.id + "/" + action, body).then(function (answer) {
      if (answer.ok) {
        say(outcome(item, answer.data), false);
        nextSheet(sheet.serial);
      } else if (answer.status === 409 || answer.status === 404) {
        // Decided, changed or taken meanwhile: say why, then the sheet as it is now.
        say(answer.data.detail || "the item changed", true);
        nextSheet(sheet.serial);
      } else {
        busy = false;
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

  function enter() {
    var text = input.value.trim();
    var item = current;
    if (!item) {
      return;
    }
    if (isField(item)) {
      if (text === "") {
        decide(item, "accept", { version: item.version, reason: null });
      } else {
        decide(item, "correct", { value: text, version: item.version, reason: null });
      }
    } else if (isFinding(item)) {
      if (item.severity === "red" && text === "") {
        say("a red finding needs a reason: type it, then Enter (or ! to return the sheet)", true);
        return;
      }
      decide(item, "accept", { version: null, finding_version: item.finding_version, reason: text || null });
    } else if (item.kind === "unregistered_page") {
      if (text === "") {
        say("type the page's fields as FIELD=VALUE pairs, or press ! to return the sheet", true);
        return;
      }
      decide(item, "key", { values: text, reason: null });
    }
  }

  function skipSheet() {
    if (busy || !sheet) {
      return;
    }
    busy = true;
    var gone = sheet;
    post("/review/sheets/" + gone.serial + "/release").then(function (answer) {
      skipped.push(gone.id);
      say(answer.ok ? "skipped sheet " + gone.serial_display + ": its items are back in the queue"
        : answer.data.detail || "could not skip", !answer.ok);
      nextSheet(null);
    }, function () {
      busy = false;
      say("the server cannot be reached", true);
    });
  }

  // --- returning the sheet -------------------------------------------------------------------

  function openReturn() {
    if (busy || !sheet) {
      return;
    }
    if (!sheet.returnable) {
      say("a sheet that is " + sheet.status.replace("_", " ") + " cannot be returned", true);
      return;
    }
    $("return-serial").textContent = sheet.serial_display;
    var problems = $("return-problems");
    while (problems.firstChild) {
      problems.removeChild(problems.firstChild);
    }
    (sheet.problems.length ? sheet.problems : ["(no open problem: type the reason)"]).forEach(function (text) {
      var li = document.createElement("li");
      li.textContent = text;
      problems.appendChild(li);
    });
    returnReason.value = "";
    section.hidden = true;
    returnPanel.hidden = false;
    returnReason.focus();
  }

  function closeReturn() {
    returnPanel.hidden = true;
    section.hidden = false;
    focusInput();
  }

  function returned(data) {
    message.textContent = "";
    message.className = "notice";
    message.appendChild(document.createTextNode("Sheet " + data.serial_display + " was returned to its provider. "));
    var link = document.createElement("a");
    link.id = "notice-link";
    link.href = data.notice_url;
    link.textContent = "Print its notice (PDF)";
    message.appendChild(link);
  }

  function doReturn() {
    if (busy || !sheet) {
      return;
    }
    busy = true;
    var reason = returnReason.value.trim();
    post("/review/sheets/" + sheet.serial + "/return", { reason: reason || null }).then(function (answer) {
      if (answer.ok) {
        returned(answer.data);
        returnPanel.hidden = true;
        section.hidden = false;
        nextSheet(null);
      } else {
        busy = false;
        say(answer.data.detail || "not returned", true);
        returnReason.focus();
      }
    }, function () {
      busy = false;
      say("the server cannot be reached; the sheet was not returned", true);
    });
  }

  // --- keys ---------------------------------------------------------------------------------

  input.addEventListener("keydown", function (event) {
    if (!sheet || event.ctrlKey || event.altKey || event.metaKey) {
      return;
    }
    var key = event.key;
    if (key === "Enter") {
      event.preventDefault();
      if (ready && !busy) {
        enter();
      }
    } else if (key === "ArrowDown" || key === "ArrowUp") {
      event.preventDefault();
      if (!busy) {
        move(key === "ArrowDown" ? 1 : -1);
      }
    } else if (key === "-" && input.value === "" && (pending || current) && isField(pending || current)) {
      event.preventDefault();
      if (ready && !busy) {
        decide(current, "correct", { value: "blank", version: current.version, reason: null });
      }
    } else if (key === "!" && input.value === "") {
      event.preventDefault();
      openReturn();
    }
  });

  returnReason.addEventListener("keydown", function (event) {
    if (event.key === "Enter") {
      event.preventDefault();
      doReturn();
    }
  });

  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape" || !sheet) {
      return;
    }
    event.preventDefault();
    if (!returnPanel.hidden) {
      closeReturn();
    } else if (input.value !== "") {
      input.value = ""; // a first Escape clears what was typed; the next skips the sheet
    } else {
      skipSheet();
    }
  });

  // A click anywhere but on a control gives the focus back to the box that takes the keys.
  document.addEventListener("click", function (event) {
    if (event.target.closest("a, button, input, select, textarea, label")) {
      return;
    }
    focusInput();
  });

  $("value-form").addEventListener("submit", function (event) {
    event.preventDefault();
  });
  $("return-form").addEventListener("submit", function (event) {
    event.preventDefault();
  });
  window.addEventListener("focus", focusInput);

  nextSheet(sheetBox.dataset.serial || null);
})();
