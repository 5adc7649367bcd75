/*
 * Reader tools: REPL-safe copy of Python blocks, "mark as done", progress per layer.
 * Everything stays in this browser (localStorage); nothing is sent anywhere.
 * Runs on every page, after a direct load and after each instant navigation (document$).
 */
(function () {
  "use strict";

  var LAYERS = ["communication", "application", "data", "reliability", "performance", "observability"];
  var DONE_KEY = "bfp.done";

  /* ---- Copy into a REPL --------------------------------------------------------------
   * The classic REPL (Python 3.11, 3.12) ends an indented block at the first blank line,
   * and needs a blank line to end a top-level compound statement before the next one.
   * The page keeps the code as formatted; only what is copied changes:
   * - `#>` output lines are left out;
   * - a blank line inside an indented block is left out;
   * - one blank line follows each top-level compound statement;
   * - lines inside a triple-quoted string are kept as they are.
   */
  var CONTINUES = /^(else|elif|except|finally|case)\b/;

  function tripleQuotesIn(line) {
    var matches = line.match(/"""|'''/g);
    return matches ? matches.length : 0;
  }

  function forRepl(code) {
    var out = [];
    var inString = false;
    var lines = code.replace(/\s+$/, "").split("\n");
    for (var i = 0; i < lines.length; i++) {
      var line = lines[i];
      if (inString) {
        out.push(line);
        if (tripleQuotesIn(line) % 2 === 1) inString = false;
        continue;
      }
      if (/^\s*#>/.test(line)) continue;
      if (line.trim() === "") continue; /* blank lines are re-inserted below where needed */
      var top = !/^\s/.test(line);
      var previous = out.length ? out[out.length - 1] : null;
      var afterBlock = previous !== null && previous !== "" && /^\s/.test(previous);
      if (top && afterBlock && !CONTINUES.test(line)) out.push("");
      out.push(line);
      if (tripleQuotesIn(line) % 2 === 1) inString = true;
    }
    if (out.length && /^\s/.test(out[out.length - 1])) out.push("");
    return out.join("\n") + "\n";
  }

  function codeText(code) {
    var clone = code.cloneNode(true);
    clone.querySelectorAll(".md-annotation, .md-code__nav").forEach(function (el) {
      el.remove();
    });
    return clone.textContent;
  }

  /* Capture phase: runs before Material's clipboard handler, which copies
   * data-clipboard-text when a button has it. */
  document.addEventListener(
    "click",
    function (event) {
      var button = event.target.closest && event.target.closest("button[data-md-type='copy']");
      if (!button) return;
      var block = button.closest(".language-python, .language-py");
      var code = block && block.querySelector("code");
      if (code) button.setAttribute("data-clipboard-text", forRepl(codeText(code)));
    },
    true
  );
  window.bfpForRepl = forRepl; /* for the tests, and for the curious */

  /* ---- Progress ------------------------------------------------------------------------ */
  function siteRoot() {
    return typeof __md_scope !== "undefined" ? __md_scope : new URL("/", location.href);
  }

  function pageKey(url) {
    var path = new URL(url, location.href).pathname;
    var root = siteRoot().pathname;
    return path.indexOf(root) === 0 ? path.slice(root.length) : path;
  }

  function isTopicPage(key) {
    var parts = key.split("/").filter(Boolean);
    return (parts.length === 2 && LAYERS.indexOf(parts[0]) >= 0) || key === "journey/";
  }

  function loadDone() {
    try {
      var done = JSON.parse(localStorage.getItem(DONE_KEY) || "[]");
      return Array.isArray(done) ? done : [];
    } catch (error) {
      return [];
    }
  }

  function saveDone(done) {
    localStorage.setItem(DONE_KEY, JSON.stringify(done));
  }

  var topicPages = null; /* from sitemap.xml, once */
  function fetchTopicPages() {
    if (!topicPages) {
      topicPages = fetch(new URL("sitemap.xml", siteRoot()))
        .then(function (response) { return response.text(); })
        .then(function (xml) {
          var doc = new DOMParser().parseFromString(xml, "application/xml");
          var paths = Array.prototype.map.call(doc.querySelectorAll("loc"), function (loc) {
            return new URL(loc.textContent).pathname;
          });
          /* The sitemap names the published site, whose root may differ from where this
           * copy is served: its own root is its shortest path, the home page. */
          var root = paths.reduce(function (a, b) { return b.length < a.length ? b : a; });
          return paths
            .map(function (path) { return path.slice(root.length); })
            .filter(isTopicPage);
        });
    }
    return topicPages;
  }

  function doneButton(key) {
    var button = document.createElement("button");
    button.type = "button";
    button.className = "md-button bfp-done";
    function paint() {
      var done = loadDone().indexOf(key) >= 0;
      button.setAttribute("aria-pressed", String(done));
      button.textContent = done ? "\u2713 Done: mark as not done" : "Mark this page as done";
    }
    button.addEventListener("click", function () {
      var done = loadDone();
      var at = done.indexOf(key);
      if (at >= 0) done.splice(at, 1);
      else done.push(key);
      saveDone(done);
      paint();
    });
    paint();
    return button;
  }

  function renderProgress(box, pages) {
    var wanted = box.getAttribute("data-layer");
    var layers = wanted === "all" ? LAYERS : [wanted];
    var done = loadDone();
    var list = document.createElement("ul");
    layers.forEach(function (layer) {
      var mine = pages.filter(function (key) { return key.indexOf(layer + "/") === 0; });
      var finished = mine.filter(function (key) { return done.indexOf(key) >= 0; }).length;
      var item = document.createElement("li");
      item.setAttribute("data-layer", layer);
      var label = layer.charAt(0).toUpperCase() + layer.slice(1);
      if (!mine.length) {  /* no page written yet: say so, not "0 of 0" */
        item.textContent = label + ": in preparation";
        list.appendChild(item);
        return;
      }
      item.textContent = label + ": " + finished + " of " + mine.length + " pages done";
      var bar = document.createElement("progress");
      bar.max = mine.length || 1;
      bar.value = finished;
      bar.setAttribute("aria-label", label + " progress");
      item.appendChild(bar);
      list.appendChild(item);
    });
    var reset = document.createElement("button");
    reset.type = "button";
    reset.className = "md-button bfp-reset";
    reset.textContent = "Reset my progress";
    reset.addEventListener("click", function () {
      saveDone([]);
      renderProgress(box, pages);
    });
    box.replaceChildren(list, reset);
  }

  /* ---- Accessibility ------------------------------------------------------------------
   * With navigation.indexes, a section's nav is labelled by a <label> that holds only an
   * icon: an empty accessible name, which axe-core reports (landmark-unique). Name it after
   * the section's link instead. */
  function nameSectionNavs() {
    document.querySelectorAll("nav.md-nav[aria-labelledby]").forEach(function (nav) {
      var label = document.getElementById(nav.getAttribute("aria-labelledby"));
      var container = label && label.closest(".md-nav__container");
      var title = container && container.querySelector("a .md-ellipsis");
      if (title && !label.textContent.trim()) {
        nav.removeAttribute("aria-labelledby");
        nav.setAttribute("aria-label", title.textContent.trim());
      }
    });
  }

  /* Material 9.8 wraps each code block's buttons in an unnamed <nav>: one unnamed navigation
   * landmark per block (landmark-unique). They are a pair of buttons, not navigation. */
  function unlandmarkCodeButtons() {
    document.querySelectorAll("nav.md-code__nav").forEach(function (nav) {
      nav.setAttribute("role", "none");
    });
  }

  /* The table of contents of an API reference page can hold two classes of the same name
   * (two modules' QuietHandler): two navigation landmarks with one name (landmark-unique).
   * Prefix a repeated name with its parent's. */
  function uniqueNavNames() {
    var seen = {};
    document.querySelectorAll("nav[aria-label]").forEach(function (nav) {
      var name = nav.getAttribute("aria-label");
      if (seen[name]) {
        var parent = nav.parentElement && nav.parentElement.closest("nav[aria-label]");
        var unique = (parent ? parent.getAttribute("aria-label") + ": " : "") + name;
        for (var n = 2; seen[unique]; n++) unique = name + " (" + n + ")";
        nav.setAttribute("aria-label", unique);
        name = unique;
      }
      seen[name] = true;
    });
  }

  /* The skip link. Following it natively fires popstate, and the first location change
   * after a load makes Material's instant navigation fetch the page it is already on and
   * swap the content, which leaves the focus on <body>: the next Tab then lands wherever
   * the browser's focus starting point is when the swap ends (in the header, on a slow
   * machine). A skip link needs no navigation: move the focus to the heading and stop
   * there. The heading is made focusable from script only (tabindex=-1), so a screen
   * reader announces it and the next Tab reaches the first link of the content. The
   * listener is on window in the capture phase, before Material's on the body. */
  function followSkipLink(event) {
    var link = event.target instanceof Element && event.target.closest("a.md-skip");
    if (!link || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return;
    var target = document.getElementById(decodeURIComponent(link.hash.slice(1)));
    if (!target) return;
    event.preventDefault();
    event.stopPropagation();
    if (!target.hasAttribute("tabindex")) target.setAttribute("tabindex", "-1");
    target.focus();
  }
  window.addEventListener("click", followSkipLink, true);

  /* A table wider than the column scrolls sideways inside Material's wrapper, and an
   * 80-column code block is wider than a phone: nothing showed that there was more to
   * see. Mark the boxes that overflow (CSS fades the edge with more to see); a table
   * also becomes reachable by keyboard, with a name (Material does that for code on a
   * device with a pointer that hovers). All sizes are read before any class is
   * written: one layout for the page, not one per box. */
  var SCROLLERS = ".md-typeset__scrollwrap, .md-typeset pre > code";

  function showScroll(box, more, left) {
    box.classList.toggle("bfp-scrolls", more > 1);
    box.classList.toggle("bfp-more-right", left < more - 1);
    box.classList.toggle("bfp-more-left", left > 1);
    if (more > 1 && box.tagName !== "CODE" && !box.hasAttribute("tabindex")) {
      box.setAttribute("tabindex", "0");
      box.setAttribute("role", "group"); // a region would be a landmark, one per table
      box.setAttribute("aria-label", "Table, scrolls sideways");
    }
  }

  function onScroll(event) {
    var box = event.currentTarget;
    showScroll(box, box.scrollWidth - box.clientWidth, box.scrollLeft);
  }

  function markScrolling() {
    var boxes = Array.prototype.slice.call(document.querySelectorAll(SCROLLERS));
    var sizes = boxes.map(function (box) {
      return [box.scrollWidth - box.clientWidth, box.scrollLeft];
    });
    boxes.forEach(function (box, i) {
      showScroll(box, sizes[i][0], sizes[i][1]);
      if (!box.dataset.bfpWatched) {
        box.dataset.bfpWatched = "1";
        box.addEventListener("scroll", onScroll, { passive: true });
      }
    });
  }

  var resizePending = false;
  window.addEventListener("resize", function () {
    if (resizePending) return;
    resizePending = true;
    requestAnimationFrame(function () {
      resizePending = false;
      markScrolling();
    });
  });

  /* ---- Diagrams ---------------------------------------------------------------------
   * Each diagram is an SVG drawn at build time, in a shadow root declared in the HTML
   * (<template shadowrootmode="open">). The parser attaches it on a direct load; a page
   * reached by instant navigation is parsed without attaching, so it is done here.
   */
  function attachDiagrams() {
    document.querySelectorAll(".bfp-diagram > template[shadowrootmode]").forEach(function (t) {
      var host = t.parentElement;
      if (!host.shadowRoot) host.attachShadow({ mode: "open" }).appendChild(t.content);
      t.remove();
    });
  }

  function onPage() {
    attachDiagrams();
    markScrolling();
    nameSectionNavs();
    uniqueNavNames();
    unlandmarkCodeButtons();
    var key = pageKey(location.href);
    var article = document.querySelector("article.md-content__inner");
    if (article && isTopicPage(key) && !article.querySelector(".bfp-done")) {
      article.appendChild(doneButton(key));
    }
    var boxes = document.querySelectorAll(".bfp-progress");
    if (boxes.length) {
      fetchTopicPages().then(function (pages) {
        boxes.forEach(function (box) { renderProgress(box, pages); });
      });
    }
  }

  if (typeof document$ !== "undefined") document$.subscribe(onPage);
  else document.addEventListener("DOMContentLoaded", onPage);
})();
