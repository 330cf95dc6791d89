/*
 * flame.js: zoom and search for profcol's flame graphs (flame_svg.c).
 * Works on every <svg class="flame"> of the document, inline in a page or
 * standalone. A frame knows its place as fractions of the root (data-x,
 * data-w) and its depth (data-d); zoom re-lays out the frames from those.
 * Clicking a frame zooms to it, "Reset zoom" undoes it; "Search" (or an
 * <input class="flame-search" data-for="SVG_ID">) highlights the frames
 * whose name matches a regular expression and prints the share they hold.
 */
(function () {
  'use strict';
  var CHAR_PX = 7;

  function frames(svg) {
    return Array.prototype.slice.call(svg.querySelectorAll('g.f'));
  }

  function label(g, wpx) {
    var name = g.getAttribute('data-n');
    var fit = Math.floor((wpx - 6) / CHAR_PX);
    var text = g.querySelector('text');
    if (fit < 3) {
      text.textContent = '';
    } else if (name.length <= fit) {
      text.textContent = name;
    } else {
      text.textContent = name.slice(0, fit - 2) + '..';
    }
  }

  function place(g, svg, fx, fw) {
    var width = +svg.getAttribute('data-width');
    var pad = +svg.getAttribute('data-pad');
    var inner = width - 2 * pad;
    var rect = g.querySelector('rect');
    var xpx = pad + fx * inner;
    var wpx = fw * inner;
    rect.setAttribute('x', xpx.toFixed(2));
    rect.setAttribute('width', wpx.toFixed(2));
    g.querySelector('text').setAttribute('x', (xpx + 3).toFixed(2));
    label(g, wpx);
  }

  /* Shows the frames inside [x0, x0 + w0) at full width; the frames below
   * depth d0 that hold it are drawn full width and faded. */
  function zoomTo(svg, x0, w0, d0) {
    var eps = 1e-9;
    frames(svg).forEach(function (g) {
      var x = +g.getAttribute('data-x');
      var w = +g.getAttribute('data-w');
      var d = +g.getAttribute('data-d');
      var inside = x >= x0 - eps && x + w <= x0 + w0 + eps;
      var holds = x <= x0 + eps && x + w >= x0 + w0 - eps;
      g.classList.remove('hidden', 'faded');
      if (d < d0 && holds) {
        g.classList.add('faded');
        place(g, svg, 0, 1);
      } else if (d >= d0 && inside && w0 > 0) {
        place(g, svg, (x - x0) / w0, w / w0);
      } else {
        g.classList.add('hidden');
      }
    });
    svg.setAttribute('data-zoomed', d0 > 0 ? 'true' : 'false');
  }

  function zoom(svg, g) {
    zoomTo(svg, +g.getAttribute('data-x'), +g.getAttribute('data-w'),
           +g.getAttribute('data-d'));
  }

  function reset(svg) {
    zoomTo(svg, 0, 1, 0);
  }

  /* Highlights matching frames; the share counts a matching frame once,
   * not again for matching frames above it. */
  function search(svg, pattern) {
    var re = null;
    var spans = [];
    var info = svg.querySelector('text.info');
    if (pattern) {
      try {
        re = new RegExp(pattern);
      } catch (e) {
        if (info) { info.textContent = 'bad regular expression'; }
        return 0;
      }
    }
    frames(svg).forEach(function (g) {
      var hit = re !== null && +g.getAttribute('data-d') > 0 &&
        re.test(g.getAttribute('data-n'));
      g.classList.toggle('hl', hit);
      if (hit) {
        spans.push([+g.getAttribute('data-x'), +g.getAttribute('data-w')]);
      }
    });
    spans.sort(function (a, b) { return a[0] - b[0] || b[1] - a[1]; });
    var share = 0;
    var end = -1;
    spans.forEach(function (s) {
      if (s[0] >= end - 1e-9) {
        share += s[1];
        end = s[0] + s[1];
      }
    });
    svg.setAttribute('data-matched', share.toFixed(6));
    if (info) {
      info.textContent = re ? 'matched ' + (100 * share).toFixed(2) + '%' : '';
    }
    return share;
  }

  function bind(svg) {
    if (svg.getAttribute('data-bound')) { return; }
    svg.setAttribute('data-bound', '1');
    svg.addEventListener('click', function (ev) {
      var t = ev.target;
      var g = t.closest ? t.closest('g.f') : null;
      if (g) {
        zoom(svg, g);
      } else if (t.classList.contains('reset')) {
        reset(svg);
      } else if (t.classList.contains('search')) {
        var p = window.prompt('Search (regular expression)', '');
        if (p !== null) { search(svg, p); }
      }
    });
  }

  function bindInputs() {
    var inputs = document.querySelectorAll('input.flame-search');
    Array.prototype.forEach.call(inputs, function (input) {
      if (input.getAttribute('data-bound')) { return; }
      input.setAttribute('data-bound', '1');
      input.addEventListener('input', function () {
        var id = input.getAttribute('data-for');
        var svgs = id ? [document.getElementById(id)]
          : document.querySelectorAll('svg.flame');
        Array.prototype.forEach.call(svgs, function (svg) {
          if (svg) { search(svg, input.value); }
        });
      });
    });
  }

  function init() {
    Array.prototype.forEach.call(document.querySelectorAll('svg.flame'), bind);
    bindInputs();
  }

  window.profcolFlame = { init: init, zoom: zoom, reset: reset, search: search };
  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', init);
  } else {
    init();
  }
}());
