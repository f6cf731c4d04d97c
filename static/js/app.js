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

  // Open the window as a modal dialog: it holds focus, Esc closes it.
  function openDialogIfNew() {
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
  }

  function afterWindowSwap() {
    var win = document.getElementById("registration-window");
    if (!win) return;
    var result = document.getElementById("registration-result");
    if (result && !result.dataset.seen) {
      result.dataset.seen = "1";
      result.focus();
    } else {
      var invalid = win.querySelector("[aria-invalid=true]");
      if (invalid && !win.dataset.focusedError) {
        win.dataset.focusedError = "1";
        invalid.focus();
      }
    }
    var link = document.getElementById("portal-link");
    if (portalTab) {
      if (link && link.hasAttribute("data-open-now")) {
        portalTab.opener = null;
        portalTab.location.href = link.href;
      } else {
        portalTab.close();
      }
      portalTab = null;
    }
    if (link) link.removeAttribute("data-open-now");
    var letter = win.querySelector(".print-letter[data-auto-print]");
    if (letter) {
      letter.removeAttribute("data-auto-print");
      window.setTimeout(function () { window.print(); }, 0);
    }
  }

  document.addEventListener("htmx:afterSettle", function () {
    openDialogIfNew();
    afterWindowSwap();
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

  // A request that fails without a swap (network error, 5xx) must not leave a blank tab.
  document.addEventListener("htmx:afterRequest", function (event) {
    if (portalTab && !event.detail.successful && event.detail.xhr && event.detail.xhr.status !== 409 && event.detail.xhr.status !== 422) {
      portalTab.close();
      portalTab = null;
    }
  });
})();
