// Grouped verification: arrow keys move between the crops, Space ticks or unticks one
// (the checkbox does that itself), Enter confirms the ticked ones.
(function () {
  "use strict";

  var form = document.getElementById("group-form");
  if (!form) {
    return;
  }
  var boxes = Array.prototype.slice.call(form.querySelectorAll('label.tile input[type="checkbox"]'));
  if (!boxes.length) {
    return;
  }
  var submitted = false;

  function columns() {
    var top = boxes[0].closest("label").offsetTop;
    var count = 0;
    for (var i = 0; i < boxes.length; i += 1) {
      if (boxes[i].closest("label").offsetTop !== top) {
        break;
      }
      count += 1;
    }
    return Math.max(1, count);
  }

  function move(from, step) {
    var to = Math.min(boxes.length - 1, Math.max(0, from + step));
    boxes[to].focus();
    boxes[to].closest("label").scrollIntoView({ block: "nearest" });
  }

  form.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.altKey || event.metaKey) {
      return;
    }
    var index = boxes.indexOf(document.activeElement);
    if (event.key === "Enter") {
      event.preventDefault();
      if (!submitted) {
        submitted = true;
        form.submit();
      }
      return;
    }
    if (index < 0) {
      return;
    }
    var steps = { ArrowLeft: -1, ArrowRight: 1, ArrowUp: -columns(), ArrowDown: columns() };
    if (Object.prototype.hasOwnProperty.call(steps, event.key)) {
      event.preventDefault();
      move(index, steps[event.key]);
    }
  });

  form.addEventListener("submit", function () {
    submitted = true;
  });

  // Keyboard first: start on the first crop.
  boxes[0].focus();
})();
