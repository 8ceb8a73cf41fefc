/* On a phone, notebooks open in JupyterLite's Notebook interface (lite/notebooks/), not in
   JupyterLab (lite/lab/, the interface the site's links name: LITE_APP in tools/site/hooks.py):
   at phone width JupyterLab opens with its file browser taking most of the screen and leaves
   the notebook a sliver, while the Notebook interface gives it the whole width.

   Below Material's phone breakpoint (the one site.css uses) every link to lite/lab/ points at
   the same notebook in lite/notebooks/; links follow the width when it changes (a rotated
   phone). An inline JupyterLite (lite_embed) is switched once, when the page loads. */
(function () {
  "use strict";
  var NARROW = window.matchMedia("(max-width: 44.9375em)");
  var LAB = "lite/lab/index.html?", NOTEBOOK = "lite/notebooks/index.html?";

  function follow() {
    document.querySelectorAll("a[href*='" + LAB + "'], a[data-lab-href]").forEach(function (a) {
      if (!a.dataset.labHref) a.dataset.labHref = a.getAttribute("href");
      var lab = a.dataset.labHref;
      a.setAttribute("href", NARROW.matches ? lab.replace(LAB, NOTEBOOK) : lab);
    });
  }

  function start() {
    follow();
    if (NARROW.matches) {
      document.querySelectorAll("iframe.lite-embed[src*='" + LAB + "']").forEach(function (frame) {
        frame.setAttribute("src", frame.getAttribute("src").replace(LAB, NOTEBOOK));
      });
    }
    NARROW.addEventListener("change", follow);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
