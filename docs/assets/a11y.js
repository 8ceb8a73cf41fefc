/* Accessibility fixes the static pages need once their widgets and outputs are drawn.

   - Scrollable code and output regions get tabindex="0", so a keyboard can reach and
     scroll them (WCAG 2.1.1; axe: scrollable-region-focusable).
   - A chart's SVG shown as an <img> gets the SVG's own accessible name as its alt text
     (lesson/widgets/charts.py writes what the chart shows, with its figures, into the SVG's
     aria-label; nbconvert and the widget renderer leave the <img> without it).
   - Widget sliders (noUiSlider handles, role="slider") are named after their description
     label (axe: aria-input-field-name).

   Runs at load and again, debounced, whenever the page's DOM changes (the widgets are
   rendered after load from their saved state); <html data-a11y-pending> is set while a run
   is due and data-a11y-fixed holds the time of the last run. */
(function () {
  "use strict";
  var NBCONVERT_ALT = "No description has been provided for this image";

  function focusable(el) {
    return el.matches("a[href], button, input, select, textarea, [tabindex]") ||
      el.querySelector("a[href], button, input, select, textarea, [tabindex]") !== null;
  }

  function scrollable(el) {
    var style = getComputedStyle(el);
    var x = /(auto|scroll)/.test(style.overflowX) && el.scrollWidth > el.clientWidth + 1;
    var y = /(auto|scroll)/.test(style.overflowY) && el.scrollHeight > el.clientHeight + 1;
    return x || y;
  }

  function reachScrollables(root) {
    root.querySelectorAll("pre, code, div, table, .highlight, .widget-html-content").forEach(function (el) {
      if (el.dataset.a11yScroll === "1" || !scrollable(el) || focusable(el)) return;
      el.setAttribute("tabindex", "0");
      el.dataset.a11yScroll = "1";
    });
  }

  function svgName(src) {
    var comma = src.indexOf(",");
    if (comma < 0) return "";
    var head = src.slice(0, comma), body = src.slice(comma + 1), text;
    try {
      text = /;base64/.test(head) ? new TextDecoder().decode(Uint8Array.from(atob(body), function (c) {
        return c.charCodeAt(0);
      })) : decodeURIComponent(body);
    } catch (err) {
      return "";
    }
    var doc = new DOMParser().parseFromString(text, "image/svg+xml");
    var svg = doc.documentElement;
    if (!svg || svg.nodeName !== "svg") return "";
    var title = svg.querySelector(":scope > title");
    return svg.getAttribute("aria-label") || (title ? title.textContent : "") || "";
  }

  function nameCharts(root) {
    root.querySelectorAll("img[src^='data:image/svg+xml']").forEach(function (img) {
      if (img.dataset.a11yAlt === "1") return;
      img.dataset.a11yAlt = "1";
      var name = svgName(img.getAttribute("src"));
      if (name) img.setAttribute("alt", name);
      else if (!img.hasAttribute("alt") || img.getAttribute("alt") === NBCONVERT_ALT) img.setAttribute("alt", "chart");
    });
  }

  function nameSliders(root) {
    root.querySelectorAll("[role='slider']:not([aria-label]):not([aria-labelledby])").forEach(function (handle) {
      var widget = handle.closest(".widget-slider, .widget-inline-hbox, .widget-inline-vbox");
      var label = widget && widget.querySelector(".widget-label");
      var text = label && label.textContent.trim();
      handle.setAttribute("aria-label", text || "value");
    });
  }

  function fix() {
    var root = document.querySelector(".md-content") || document.body;
    nameCharts(root);
    nameSliders(root);
    reachScrollables(root);
    var html = document.documentElement;
    html.dataset.a11yFixed = String(Date.now());
    delete html.dataset.a11yPending;
  }

  var pending = null;
  function later() {
    document.documentElement.dataset.a11yPending = "1";  /* tests wait until it is gone */
    if (pending !== null) clearTimeout(pending);
    pending = setTimeout(function () { pending = null; fix(); }, 150);
  }

  function start() {
    fix();
    new MutationObserver(later).observe(document.body, { childList: true, subtree: true });
    window.addEventListener("resize", later);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
