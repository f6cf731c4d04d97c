/* The portal's forms post with htmx into their messages region (#portal-messages,
   templates/portal/_messages.html). base.html's htmx-config swaps no error status but 422; here a
   refusal is a message all the same (429 while slowed, 400 for an expired form, the error page's
   fragment otherwise), so the parent reads why, and the fields keep what they typed. A page that
   replaces the form's (a link that died meanwhile: 410) is retargeted to <main> by the server. */
(function () {
  "use strict";

  document.addEventListener("htmx:beforeSwap", function (event) {
    // The element that made the request: a portal form names its messages region.
    var form = event.detail.requestConfig && event.detail.requestConfig.elt;
    var portalForm = form && form.getAttribute && form.getAttribute("hx-target") === "#portal-messages";
    if (portalForm && event.detail.xhr.status >= 400) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });
})();
