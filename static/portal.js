// Behaviour for the portal's htmx pages, kept out of the markup: the Content-Security-Policy
// allows no inline script, and htmx runs with allowEval off, so hx-on attributes cannot work.

document.addEventListener("htmx:xhr:progress", function (event) {
  // An upload form names the <progress> that shows how much of the file has gone.
  var form = event.target.closest("[data-upload-progress]");
  var bar = form && document.getElementById(form.dataset.uploadProgress);
  if (bar) {
    bar.value = event.detail.total ? Math.round(event.detail.loaded / event.detail.total * 100) : 0;
  }
});

// The till. A scanner types a code and presses Enter, customer after customer, with
// nobody touching the mouse: after every answer the focus is back in the code box
// (#code), except on VALID, where Enter on the focused Redeem button redeems. Nothing a
// scanner types is lost: keys typed while the Redeem button (or nothing) has the focus go
// to the code box, and the box empties the moment its code is sent, not when the answer
// comes, so the next code can be typed while the last one is still being checked.
(function () {
  var sent = 0; // the requests that answer into #till-answer, numbered as they go

  function codeBox() {
    return document.getElementById("code");
  }

  function answersToTill(event) {
    var target = event.detail && event.detail.target;
    return Boolean(target && target.id === "till-answer");
  }

  function readyForNextScan() {
    var box = codeBox();
    if (!box) {
      return;
    }
    var redeem = document.querySelector("#till-answer [data-scan-passthrough]");
    // Someone already typing the next code keeps the box.
    (redeem && !box.value ? redeem : box).focus();
  }

  document.addEventListener("htmx:configRequest", function (event) {
    // The code is in the request's parameters now: empty the box for the next scan.
    var form = event.detail.elt;
    if (form.matches && form.matches("form[data-clear-on-send]")) {
      form.querySelectorAll("input:not([type=hidden])").forEach(function (input) {
        input.value = "";
      });
    }
  });

  document.addEventListener("htmx:beforeRequest", function (event) {
    if (answersToTill(event)) {
      sent += 1;
      event.detail.xhr.tillNumber = sent;
    }
  });

  document.addEventListener("htmx:beforeSwap", function (event) {
    // Only the answer to the latest request is shown: a check sent right after Redeem
    // must not be covered by Redeem's answer arriving after it.
    if (answersToTill(event) && event.detail.xhr.tillNumber !== sent) {
      event.detail.shouldSwap = false;
    }
  });

  document.addEventListener("htmx:afterSettle", function (event) {
    // Fired on the swapped-in content: the till's answer, stage 5's check, ...
    startCountdowns(event.target);
    if (answersToTill(event)) {
      readyForNextScan();
    }
  });

  function failed(event) {
    // No answer at all (the network, a fault on the server): say so in the answer's
    // place, name the code that was lost, and get ready for it again.
    if (!answersToTill(event) || event.detail.xhr.tillNumber !== sent) {
      return;
    }
    var template = document.getElementById("till-failed");
    var answer = document.getElementById("till-answer");
    if (template && answer) {
      var note = template.content.firstElementChild.cloneNode(true);
      var code = event.detail.requestConfig && event.detail.requestConfig.parameters &&
        event.detail.requestConfig.parameters.get && event.detail.requestConfig.parameters.get("code");
      var where = note.querySelector("[data-failed-code]");
      if (code && where) {
        where.textContent = " to check " + code;
      }
      answer.querySelectorAll(".verdict").forEach(function (old) { old.remove(); });
      answer.insertBefore(note, answer.firstChild);
    }
    readyForNextScan();
  }

  document.addEventListener("htmx:responseError", failed);
  document.addEventListener("htmx:sendError", failed);

  document.addEventListener("keydown", function (event) {
    // A printable key typed on the Redeem button, or with the focus nowhere, belongs to
    // the code box: it is the start of the next scan. (Space too: a scanned space must
    // not press Redeem.) Enter keeps its meaning: on Redeem, it redeems.
    var box = codeBox();
    var from = event.target;
    if (!box || event.key.length !== 1 || event.ctrlKey || event.metaKey || event.altKey) {
      return;
    }
    if (from !== document.body && !(from.matches && from.matches("#main, [data-scan-passthrough]"))) {
      return;
    }
    event.preventDefault();
    box.focus();
    box.value += event.key;
  });

  // PLEASE WAIT counts its seconds down; at zero it says the next code can be scanned.
  // Without JavaScript the number the server sent stays.
  function startCountdowns(root) {
    root.querySelectorAll("[data-countdown]:not([data-counting])").forEach(function (box) {
      box.setAttribute("data-counting", "");
      var ends = Date.now() + Number(box.dataset.countdown) * 1000;
      var number = box.querySelector("[data-countdown-number]");
      var unit = box.querySelector("[data-countdown-unit]");
      var many = unit ? unit.textContent : "";
      var timer = setInterval(tick, 250);

      function tick() {
        if (!box.isConnected) {
          clearInterval(timer);
          return;
        }
        var left = Math.max(0, Math.ceil((ends - Date.now()) / 1000));
        if (number && number.textContent !== String(left)) {
          number.textContent = String(left);
          if (unit) {
            unit.textContent = left === 1 ? unit.dataset.one : many;
          }
        }
        if (left === 0) {
          clearInterval(timer);
          box.classList.add("countdown-over");
          box.querySelector("[data-countdown-running]").hidden = true;
          box.querySelector("[data-countdown-over]").hidden = false;
          if (document.activeElement === document.body) {
            readyForNextScan();
          }
        }
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    startCountdowns(document);
  });
})();

// The dashboard's counts refresh themselves only while the tab is in view: a hidden tab
// sends nothing, and showing it again refreshes at once (hx-trigger: visibilitychange).
document.addEventListener("htmx:beforeRequest", function (event) {
  if (document.hidden && event.detail.elt.hasAttribute("data-poll-visible")) {
    event.preventDefault();
  }
});

// A form marked data-reset-on-success empties itself once the server took it (an upload
// imported, a customer added), so the same file is not sent twice by mistake.
document.addEventListener("htmx:afterRequest", function (event) {
  var form = event.detail.elt;
  var status = event.detail.xhr && event.detail.xhr.status;
  if (form.matches && form.matches("form[data-reset-on-success]") && status >= 200 && status < 300) {
    form.reset();
  }
});

// Message boxes grow with what is written in them. CSS field-sizing does it where the
// browser has it; elsewhere the box gets as many rows as its lines.
(function () {
  if (window.CSS && CSS.supports && CSS.supports("field-sizing", "content")) {
    return;
  }
  function grow(box) {
    var lines = box.value.split("\n").reduce(function (n, line) {
      return n + 1 + Math.floor(line.length / 60);
    }, 1);
    box.rows = Math.max(3, lines);
  }
  document.addEventListener("input", function (event) {
    if (event.target.matches && event.target.matches("textarea.grows")) {
      grow(event.target);
    }
  });
})();
