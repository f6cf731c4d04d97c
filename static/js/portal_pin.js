/* The registration page opened from the welcome email's link, `…?practice=SLUG#pin=XXXX-XXXX`:
   fill PIN from the fragment (which the browser never sent to the server), then take the PIN out
   of the address bar and this history entry, so a bookmark, a shared screen or a copied address
   does not carry it. The parent still types the date of birth; only the form's POST redeems. */
(function () {
  "use strict";

  var match = /(?:^#|&)pin=([^&]*)/.exec(window.location.hash);
  if (!match) return;
  var pin = "";
  try {
    pin = decodeURIComponent(match[1].replace(/\+/g, " "));
  } catch (malformed) {
    pin = "";
  }
  // A PIN is letters, digits and a hyphen (README: PINs); anything else is not one.
  pin = pin.replace(/[^0-9A-Za-z-]/g, "").slice(0, 40);
  var field = document.getElementById("pin");
  if (field && pin && !field.value) field.value = pin;
  window.history.replaceState(window.history.state, "", window.location.pathname + window.location.search);
})();
