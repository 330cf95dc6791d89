/*
 * ui.js: the status page's live parts. The page is complete without it;
 * with it the counters refresh from /api/pipelines every 2 s, and the flame
 * graph is fetched again every 10 s (/api/flamegraph?format=svg) while it
 * is not zoomed, searched or a diff.
 */
(function () {
  'use strict';

  function refreshCounters() {
    fetch('/api/pipelines', { cache: 'no-store' }).then(function (r) {
      return r.ok ? r.json() : null;
    }).then(function (d) {
      if (!d) { return; }
      var values = {};
      d.pipelines.forEach(function (p) {
        p.receivers.forEach(function (c) {
          values['receiver/' + c.id + '/accepted'] = c.accepted_profiles;
          values['receiver/' + c.id + '/refused'] = c.refused_profiles;
        });
        p.processors.forEach(function (c) {
          values['processor/' + c.id + '/dropped'] = c.dropped_profiles;
        });
        p.exporters.forEach(function (c) {
          values['exporter/' + c.id + '/sent'] = c.sent_profiles;
          values['exporter/' + c.id + '/failed'] = c.failed_profiles;
          values['exporter/' + c.id + '/queue'] = c.queue_size;
          values['exporter/' + c.id + '/retries'] = c.retries;
        });
      });
      document.querySelectorAll('tspan[data-c]').forEach(function (t) {
        var v = values[t.getAttribute('data-c')];
        if (v !== undefined) { t.textContent = String(v); }
      });
    }).catch(function () {});
  }

  function refreshFlame() {
    var svg = document.getElementById('flame-main');
    var search = document.querySelector('input.flame-search');
    if (!svg || svg.classList.contains('diff') ||
        svg.getAttribute('data-zoomed') === 'true' ||
        (search && search.value)) {
      return;
    }
    var params = new URLSearchParams(window.location.search);
    params.set('format', 'svg');
    params.delete('base_from');
    params.delete('base_to');
    fetch('/api/flamegraph?' + params.toString(), { cache: 'no-store' })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (text) {
        if (!text) { return; }
        var doc = new DOMParser().parseFromString(text, 'image/svg+xml');
        var fresh = doc.documentElement;
        if (fresh.nodeName !== 'svg') { return; }
        fresh.querySelectorAll('script, style').forEach(function (n) {
          n.remove();
        });
        fresh.setAttribute('id', 'flame-main');
        var now = document.getElementById('flame-main');
        if (now && now.getAttribute('data-zoomed') !== 'true') {
          now.replaceWith(document.importNode(fresh, true));
          window.profcolFlame.init();
        }
      }).catch(function () {});
  }

  setInterval(refreshCounters, 2000);
  setInterval(refreshFlame, 10000);
}());
