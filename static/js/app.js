/* Small behaviours htmx leaves to us. No inline scripts, no eval: the CSP is script-src 'self'. */
(function () {
  "use strict";

  var portalTab = null;

  function registrationDialog() {
    return document.getElementById("registration-dialog");
  }

  function focusFirstControl(container) {
    var target = container.querySelector("input:not([disabled]):not([type=hidden]), select:not([disabled]), button");
    if (target) target.focus();
  }

  // The window's fragments say what they bring with events, fired once the swap has settled
  // (WINDOW_OPENED, WINDOW_ISSUED and WINDOW_INVALID in blueprints/registration), so nothing here
  // looks for ids after every swap (a region refreshing itself settles too).

  // A new window: open it as a modal dialog, which holds focus; Esc closes it.
  document.body.addEventListener("registration:opened", function () {
    var dialog = registrationDialog();
    if (!dialog || dialog.open) return;
    dialog.addEventListener("close", function () {
      var slot = document.getElementById("dialog-slot");
      // The PIN leaves the page with the window.
      if (slot) slot.innerHTML = "";
      var opener = document.getElementById("register-patient");
      if (opener) opener.focus();
    });
    dialog.showModal();
    focusFirstControl(dialog);
  });

  // The result, shown once: it takes the focus; the letter prints now, or the tab that Complete /
  // Log In opened goes to the portal's registration page.
  document.body.addEventListener("registration:issued", function (event) {
    var result = document.getElementById("registration-result");
    if (result) result.focus();
    var link = document.getElementById("portal-link");
    if (portalTab) {
      if (event.detail.openPortal && link) {
        portalTab.opener = null;
        portalTab.location.href = link.href;
      } else {
        portalTab.close();
      }
      portalTab = null;
    }
    if (event.detail.printLetter) window.setTimeout(function () { window.print(); }, 0);
  });

  document.body.addEventListener("registration:invalid", function () {
    var win = document.getElementById("registration-window");
    var invalid = win && win.querySelector("[aria-invalid=true]");
    if (invalid) invalid.focus();
  });

  // htmx binds the triggers of swapped-in content only when it settles (a timer later), while the
  // focus is already back on the re-rendered window: a choice made in between would change a
  // radio button with nothing listening. Bind the window's triggers as soon as it is swapped in.
  document.addEventListener("htmx:afterSwap", function () {
    var win = document.getElementById("registration-window");
    if (win && window.htmx) window.htmx.process(win);
  });

  // New search results: drop the old rows ourselves before htmx swaps. htmx would otherwise fire
  // two cleanup events per old element (each walking up the page for extensions): ~90 ms per
  // search on a 6x-throttled PC (benchmarks/RESULTS.md, weak PC). The rows hold no htmx state
  // worth cleaning (no polling, no timers); focus is in the search form, not in them.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var target = event.detail.target;
    if (event.detail.shouldSwap && target && target.id === "search-results") target.replaceChildren();
  });

  document.addEventListener("click", function (event) {
    var el = event.target.closest ? event.target.closest("button, a") : null;
    if (!el) return;
    if (el.hasAttribute("data-close-dialog")) {
      var dialog = el.closest("dialog");
      if (dialog && registrationDialog() === dialog) {
        event.preventDefault();
        dialog.close();
      }
    } else if (el.hasAttribute("data-print-letter")) {
      event.preventDefault();
      window.print();
    } else if (el.name === "action" && el.value === "complete" && window.htmx) {
      // Popup blockers allow a tab opened by the click itself; the response fills it in.
      portalTab = window.open("about:blank", "_blank");
    }
  }, true);

  // The controls Tab stops at inside the window, in document order: one stop per radio group.
  function tabStops(container) {
    var candidates = container.querySelectorAll("a[href], button, input, select, textarea, [tabindex]");
    return Array.prototype.filter.call(candidates, function (el) {
      if (el.disabled || el.type === "hidden" || el.tabIndex < 0) return false;
      if (el.getClientRects().length === 0) return false;
      if (el.type === "radio" && !el.checked) {
        var group = container.querySelectorAll('input[type=radio][name="' + el.name + '"]');
        var anyChecked = Array.prototype.some.call(group, function (radio) { return radio.checked; });
        return !anyChecked && group[0] === el;
      }
      return true;
    });
  }

  // A modal <dialog> lets Tab leave it for the browser's own UI, or for the host page when the
  // app runs in an iframe: keep Tab and Shift+Tab cycling inside the window.
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Tab" || event.altKey || event.ctrlKey || event.metaKey) return;
    var dialog = registrationDialog();
    if (!dialog || !dialog.open) return;
    var stops = tabStops(dialog);
    if (!stops.length) return;
    var active = document.activeElement;
    var next;
    if (!dialog.contains(active)) {
      next = event.shiftKey ? stops[stops.length - 1] : stops[0];
    } else if (event.shiftKey) {
      var before = stops.filter(function (el) { return el !== active && (el.compareDocumentPosition(active) & Node.DOCUMENT_POSITION_FOLLOWING); });
      if (!before.length) next = stops[stops.length - 1];
    } else {
      var after = stops.filter(function (el) { return el !== active && (active.compareDocumentPosition(el) & Node.DOCUMENT_POSITION_FOLLOWING); });
      if (!after.length) next = stops[0];
    }
    if (next) {
      event.preventDefault();
      next.focus();
    }
  });

  // One deliberate step before a destructive action (Revoke PIN, Remove): the first button opens
  // the form that does it, in place; its Keep link closes it again. Without JavaScript each is a
  // page load that the server answers with the form open or closed.
  document.addEventListener("click", function (event) {
    var el = event.target.closest ? event.target.closest("[data-step-reveals] button, a[data-step-conceals]") : null;
    if (!el) return;
    var step = el.closest("[data-step-reveals]");
    var target = document.getElementById(step ? step.dataset.stepReveals : el.dataset.stepConceals);
    if (!target) return;
    event.preventDefault();
    var opener = target.parentNode.querySelector('[data-step-reveals="' + target.id + '"]');
    target.hidden = !step;
    if (opener) opener.hidden = !!step;
    // Into the box: its first field, or (nothing to type) its Keep link, never the button that
    // does it, so a second Enter cannot remove or revoke by accident.
    if (step) (target.querySelector("input:not([type=hidden]), textarea") || target.querySelector("[data-step-conceals]")).focus();
    else if (opener) opener.querySelector("button").focus();
  });

  // Embedded in the practice's portal: tell the host page our height, posted only to an origin
  // FRAME_ANCESTORS allows (the <meta name="host-origins">), never to "*". An open modal window is
  // sized by the frame's viewport (max-height in vh), so the height asked for leaves it room.
  (function postHeightToHost() {
    var meta = document.querySelector('meta[name="host-origins"]');
    if (window.parent === window || !meta) return;
    var allowed = meta.content.split(/\s+/).filter(Boolean);
    var ancestors = window.location.ancestorOrigins;
    var target = ancestors && ancestors.length && allowed.indexOf(ancestors[0]) !== -1 ? ancestors[0]
      : allowed.length === 1 ? allowed[0] : null;
    if (!target) return;
    var sent = -1;
    function post(force) {
      var height = document.documentElement.getBoundingClientRect().height;
      var dialog = document.querySelector("dialog[open]");
      if (dialog) {
        var fraction = Math.min(parseFloat(getComputedStyle(dialog).maxHeight) / window.innerHeight || 1, 1);
        // The window's fields scroll inside it (the actions stay in view): ask for what they hide
        // too, at once, rather than a few pixels more with each message as the dialog grows.
        var fields = dialog.querySelector(".window-body");
        var hidden = fields ? fields.scrollHeight - fields.clientHeight : 0;
        height = Math.max(height, (dialog.scrollHeight + hidden + dialog.offsetHeight - dialog.clientHeight) / fraction + 2);
      }
      height = Math.ceil(height);
      if (height === sent && force !== true) return;
      sent = height;
      window.parent.postMessage({ type: "portal-registration:height", height: height }, target);
    }
    window.addEventListener("load", function () { post(true); });
    document.addEventListener("close", post, true);  // a window closed
    if (!window.ResizeObserver) return;
    var observer = new ResizeObserver(post);
    observer.observe(document.documentElement);
    if (document.body) observer.observe(document.body);
    // A window opened (its event comes after htmx:afterSettle, and after the listener above that
    // opens it) or re-rendered inside the open one.
    function observeOpenDialog() {
      var dialog = document.querySelector("dialog[open]");
      if (dialog) observer.observe(dialog);
      post();
    }
    document.addEventListener("htmx:afterSettle", observeOpenDialog);
    document.body.addEventListener("registration:opened", observeOpenDialog);
  })();

  // Automatic logoff on screen too: once the session's idle limit has passed without a click or a
  // key (a region refreshing itself does not count), leave the page, and the patient data on it,
  // for Sign in. The server has ended the session by then; this only clears the screen.
  (function idleLogoff() {
    var seconds = Number(document.body && document.body.dataset.idleSeconds);
    if (!seconds) return;
    var timer;
    function restart() {
      clearTimeout(timer);
      timer = setTimeout(function () { window.location.assign(document.body.dataset.endedUrl); }, (seconds + 5) * 1000);
    }
    document.addEventListener("click", restart, true);
    document.addEventListener("keydown", restart, true);
    restart();
  })();

  // A click in the middle of an empty-looking date field lands in the segment under it (often the
  // year), so a date typed after it went nowhere. The click that gives a date field the focus
  // puts the caret in its first segment (the month) instead; the calendar button at its end keeps
  // its click, and once the field has the focus clicks pick segments as usual.
  document.addEventListener("mousedown", function (event) {
    var input = event.target;
    if (event.button !== 0 || !(input instanceof HTMLInputElement) || input.type !== "date") return;
    if (input === document.activeElement || input.disabled || input.readOnly) return;
    if (event.clientX > input.getBoundingClientRect().right - 32) return;
    event.preventDefault();
    input.focus();
  });

  // Only a 200 brings the result (and its registration:issued event, which takes the tab): issuing
  // that ends any other way (422, 409, a network error, 5xx) must not leave a blank tab. A field's
  // check that the issuing request replaced (aborted) ends too, and is none of the tab's business:
  // the issuing request is known by its xhr (once swapped, htmx names another element as its elt).
  var issuingXhr = null;
  document.addEventListener("htmx:beforeRequest", function (event) {
    if (event.detail.elt && event.detail.elt.id === "registration-form") issuingXhr = event.detail.xhr;
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    var xhr = event.detail.xhr;
    if (portalTab && xhr && xhr === issuingXhr && xhr.status !== 200) {
      portalTab.close();
      portalTab = null;
    }
  });
})();
