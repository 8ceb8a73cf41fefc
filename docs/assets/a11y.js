/* Accessibility fixes the static pages need once their widgets and outputs are drawn.

   - Scrollable code and output regions get tabindex="0", so a keyboard can reach and
     scroll them (WCAG 2.1.1; axe: scrollable-region-focusable).
   - A chart's SVG shown as an <img> gets the SVG's own accessible name as its alt text
     (lesson/widgets/charts.py writes what the chart shows, with its figures, into the SVG's
     aria-label; nbconvert and the widget renderer leave the <img> without it).
   - Widget sliders (noUiSlider handles, role="slider") are named after their description
     label (axe: aria-input-field-name).
   - Text outputs keep their columns (WCAG 1.4.10, reflow): output text wraps at spaces
     (docs/assets/site.css), but a paragraph of it laid out in columns (two or more lines with
     a run of two spaces inside, or box-drawing characters: a table, a span tree) gets the
     class lesson-cols, which keeps every line whole and scrolls sideways in its own box.
     A box whose every paragraph is columns gets the class itself; otherwise each such
     paragraph is wrapped in a <span class="lesson-cols">, and the prose around it wraps.
   - A self-check quiz (lesson/widgets/quiz.py, drawn from saved state) says that its buttons
     need a running kernel, with a link to the page's notebook in JupyterLite: on a static
     page a click does nothing. Said here once for every notebook page.

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

  var COLUMNS = /\S {2,}\S/, BOX_DRAWING = /[\u2500-\u257f]/;
  var TEXT_BOXES = ".jupyter-wrapper .jp-OutputArea-output pre, .lesson-wrap pre > code";

  /* [first, last] line numbers of the paragraphs (runs of non-blank lines) laid out in columns */
  function columnParagraphs(lines) {
    var found = [], start = -1, columns = 0, boxes = false;
    for (var i = 0; i <= lines.length; i++) {
      var line = i < lines.length ? lines[i] : "";
      if (line.trim() === "") {
        if (start >= 0 && (columns >= 2 || boxes)) found.push([start, i - 1]);
        start = -1; columns = 0; boxes = false;
        continue;
      }
      if (start < 0) start = i;
      if (COLUMNS.test(line)) columns++;
      if (BOX_DRAWING.test(line)) boxes = true;
    }
    return found;
  }

  /* Split the box's text nodes so that every newline ends a node: then each child node
     belongs to one line. False when an element child spans lines (left whole). */
  function splitAtNewlines(box) {
    var nodes = Array.prototype.slice.call(box.childNodes);
    for (var i = 0; i < nodes.length; i++) {
      var node = nodes[i];
      if (node.nodeType !== Node.TEXT_NODE) {
        if (node.textContent.indexOf("\n") >= 0) return false;
        continue;
      }
      var at = node.data.indexOf("\n");
      while (at >= 0 && at < node.data.length - 1) {
        node = node.splitText(at + 1);
        at = node.data.indexOf("\n");
      }
    }
    return true;
  }

  function keepColumns(root) {
    root.querySelectorAll(TEXT_BOXES).forEach(function (box) {
      if (box.dataset.cols === "1") return;
      box.dataset.cols = "1";
      var lines = box.textContent.split("\n");
      var paragraphs = columnParagraphs(lines);
      if (paragraphs.length === 0) return;
      var prose = lines.some(function (line, i) {
        return line.trim() !== "" && !paragraphs.some(function (p) { return i >= p[0] && i <= p[1]; });
      });
      if (!prose || !splitAtNewlines(box)) {
        box.classList.add("lesson-cols");
        return;
      }
      var byLine = [], line = 0;
      Array.prototype.slice.call(box.childNodes).forEach(function (node) {
        (byLine[line] = byLine[line] || []).push(node);
        if (node.nodeType === Node.TEXT_NODE && node.data.slice(-1) === "\n") line++;
      });
      paragraphs.forEach(function (p) {
        var block = document.createElement("span");
        block.className = "lesson-cols";
        box.insertBefore(block, byLine[p[0]][0]);
        for (var i = p[0]; i <= p[1]; i++) (byLine[i] || []).forEach(function (n) { block.appendChild(n); });
      });
    });
  }

  function noteStaticQuizzes(root) {
    root.querySelectorAll(".jupyter-wrapper .lesson-quiz").forEach(function (quiz) {
      if (quiz.querySelector(".lesson-quiz-static")) return;
      var note = document.createElement("p");
      note.className = "lesson-quiz-static";
      note.appendChild(document.createTextNode(
        "On this page the buttons do not answer: they need a running kernel. "));
      var lite = document.querySelector("a.lite-button");
      if (lite) {
        var link = document.createElement("a");
        link.href = lite.href;
        link.target = "_blank";
        link.rel = "noopener";
        link.textContent = "Open the notebook in JupyterLite";
        note.appendChild(link);
        note.appendChild(document.createTextNode(" to click an option and read why it is right or wrong."));
      } else {
        note.appendChild(document.createTextNode("Open the notebook in JupyterLite to answer."));
      }
      var header = quiz.querySelector(".widget-html");
      if (header && header.nextSibling) quiz.insertBefore(note, header.nextSibling);
      else quiz.insertBefore(note, quiz.firstChild);
    });
  }

  function reachScrollables(root) {
    root.querySelectorAll("pre, code, div, table, span.lesson-cols, .highlight, .widget-html-content").forEach(function (el) {
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
    keepColumns(root);
    noteStaticQuizzes(root);
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
