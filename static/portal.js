// Behaviour for the portal's htmx pages, kept out of the markup: the Content-Security-Policy
// allows no inline script, and htmx runs with allowEval off, so hx-on attributes cannot work.
document.addEventListener("htmx:afterRequest", function (event) {
  // The till's code form empties itself once its answer is in, ready for the next scan.
  var form = event.detail.elt;
  if (form === event.target && form.matches("form[data-reset-after-request]")) {
    form.reset();
  }
});

document.addEventListener("htmx:xhr:progress", function (event) {
  // An upload form names the <progress> that shows how much of the file has gone.
  var form = event.target.closest("[data-upload-progress]");
  var bar = form && document.getElementById(form.dataset.uploadProgress);
  if (bar) {
    bar.value = event.detail.total ? Math.round(event.detail.loaded / event.detail.total * 100) : 0;
  }
});
