/* The portal's forms post with htmx into their messages region (#portal-messages,
   templates/portal/_messages.html). base.html's htmx-config swaps no error status but 422; here a
   refusal is a message all the same (429 while slowed, 400 for an expired form, the error page's
   fragment otherwise), so the parent reads why, and the fields keep what they typed. */
(function () {
  "use strict";

  document.addEventListener("htmx:beforeSwap", function (event) {
    var target = event.detail.target;
    if (target && target.id === "portal-messages" && event.detail.xhr.status >= 400) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });
})();
