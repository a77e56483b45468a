// SockWatch's page: keeps the server-rendered diagram up to date from /api/v1/poll and
// /api/v1/history (docs/web.md). Plain DOM, no library; every text a process chose is set
// through textContent, never as markup.
(function () {
  'use strict';
  var SVG = 'http://www.w3.org/2000/svg';
  var interval = Math.max(1, Number(document.body.dataset.interval) || 15) * 1000;
  var form = document.getElementById('select');
  var timer = null;

  function el(name, text, ns) {
    var e = ns ? document.createElementNS(SVG, name) : document.createElement(name);
    if (text !== undefined) { e.textContent = text; }
    return e;
  }

  function query() {
    var p = new URLSearchParams();
    ['netns', 'owner'].forEach(function (k) {
      var v = form.elements[k].value;
      if (v) { p.set(k, v); }
    });
    var s = p.toString();
    return s ? '?' + s : '';
  }

  function rate(perSecond, intervalSeconds, source) {
    if (!(intervalSeconds > 0)) { return '\u2013'; }
    return (source === 'inferred' ? '\u2248' : '') + (Math.round(perSecond * 100) / 100) + '/s';
  }

  function options(select, values, selected) {
    var want = values.slice();
    if (selected && want.indexOf(selected) < 0) { want.push(selected); }
    var have = Array.prototype.slice.call(select.options, 1).map(function (o) { return o.value; });
    if (have.join('\u0000') === want.join('\u0000')) { return; }
    while (select.options.length > 1) { select.remove(1); }
    want.forEach(function (v) {
      var o = el('option', v);
      o.value = v;
      o.selected = v === selected;
      select.appendChild(o);
    });
  }

  function updateDiagram(poll) {
    var findings = {};
    poll.findings.forEach(function (f) {
      (findings[f.state] = findings[f.state] || []).push(f.kind + (f.pid === null ? '' : ', process ' + f.process + ' (unit ' + f.unit + ')'));
    });
    document.querySelectorAll('#diagram g.node').forEach(function (g) {
      var state = g.dataset.state;
      var n = poll.states[state] || 0;
      g.dataset.count = String(n);
      g.querySelector('text.count').textContent = String(n);
      var old = g.querySelector('a.badge');
      if (old) { old.remove(); }
      if (findings[state]) {
        var rect = g.querySelector('rect');
        var x = Number(rect.getAttribute('x')) * -1 - 4, y = Number(rect.getAttribute('y')) + 2;
        var a = el('a', undefined, true);
        a.setAttribute('class', 'badge');
        a.setAttribute('href', '#findings');
        var n = findings[state].length;
        a.appendChild(el('title', n + (n === 1 ? ' finding at ' : ' findings at ') + state + ': ' + findings[state].join('; '), true));
        var c = el('circle', undefined, true);
        c.setAttribute('cx', x); c.setAttribute('cy', y); c.setAttribute('r', 11);
        var t = el('text', '!' + n, true);
        t.setAttribute('x', x); t.setAttribute('y', y + 4);
        a.appendChild(c); a.appendChild(t);
        g.appendChild(a);
      }
    });
    var tr = poll.transitions;
    var edges = {};
    tr.edges.forEach(function (e) { edges[e.from + '>' + e.to] = e; });
    document.querySelectorAll('#diagram g.edge').forEach(function (g) {
      var e = edges[g.dataset.from + '>' + g.dataset.to] || { count: 0, per_second: 0 };
      g.dataset.count = String(e.count);
      g.dataset.rate = String(e.per_second);
      g.setAttribute('class', 'edge ' + tr.source);
      g.querySelector('text').textContent = rate(e.per_second, tr.interval_seconds, tr.source);
    });
    var legend = document.getElementById('transitions-source');
    if (legend.dataset.source !== tr.source) {
      legend.dataset.source = tr.source;
      legend.textContent = tr.source === 'traced'
        ? 'Edges: state changes per second, counted exactly by the tracer.'
        : 'Edges: state changes per second, inferred from sockets seen in two polls (\u2248, dashed).';
    }
  }

  function updateFindings(poll) {
    var list = document.getElementById('findings');
    list.textContent = '';
    poll.findings.forEach(function (f) {
      var li = el('li');
      li.className = f.severity;
      li.dataset.kind = f.kind;
      li.dataset.state = f.state;
      li.appendChild(el('b', f.kind));
      li.appendChild(document.createTextNode(' (' + f.severity + ') at '));
      li.appendChild(el('b', f.state));
      if (f.netns) { li.appendChild(document.createTextNode(', netns ' + f.netns)); }
      if (f.pid !== null) {
        li.appendChild(document.createTextNode(', process '));
        var p = el('span', f.process);
        p.className = 'process';
        li.appendChild(p);
        li.appendChild(document.createTextNode(' (unit ' + f.unit + ')'));
      }
      li.appendChild(document.createTextNode(': ' + f.text + ' '));
      var a = el('a', 'runbook');
      a.href = f.runbook;
      li.appendChild(a);
      list.appendChild(li);
    });
    document.getElementById('finding-count').textContent = String(poll.findings.length);
    document.getElementById('no-findings').hidden = poll.findings.length > 0;
  }

  function updateOwners(poll) {
    ['close_wait', 'time_wait'].forEach(function (state) {
      var body = document.querySelector('#top-' + state + ' tbody');
      body.textContent = '';
      poll.top_owners[state].forEach(function (o) {
        var row = el('tr');
        [o.process, o.unit, o.netns, String(o.sockets)].forEach(function (v) { row.appendChild(el('td', v)); });
        body.appendChild(row);
      });
    });
  }

  function updateSummary(poll) {
    var s = document.getElementById('summary');
    if (!poll.at) { s.textContent = 'No poll has succeeded yet.'; return; }
    var ns = poll.namespaces.length;
    s.textContent = 'Latest poll: ' + poll.at.replace('T', ' ').replace(/\.\d+/, '') + ' through ' + poll.collector + ': ' +
      poll.sockets + ' sockets in ' + ns + ' network namespace' + (ns === 1 ? '' : 's') + ', in ' +
      Math.round(poll.poll_duration_seconds * 1000) + ' ms.';
    options(form.elements.netns, poll.namespaces.map(function (n) { return n.name; }), poll.selection.netns);
    options(form.elements.owner, poll.owner_names, poll.selection.owner);
  }

  function updateHistory(h) {
    var svg = document.getElementById('history');
    var lines = { all: null, close_wait: [h.states.indexOf('close_wait')], time_wait: [h.states.indexOf('time_wait')] };
    var series = {}, max = 1;
    Object.keys(lines).forEach(function (name) {
      series[name] = h.points.map(function (p) {
        if (!lines[name]) { return p.counts.reduce(function (a, b) { return a + b; }, 0); }
        return lines[name].reduce(function (a, i) { return a + p.counts[i]; }, 0);
      });
      series[name].forEach(function (v) { if (v > max) { max = v; } });
    });
    var w = 320, ht = 120, n = h.points.length;
    Object.keys(series).forEach(function (name) {
      var pts = series[name].map(function (v, i) {
        var x = n === 1 ? w : i * (w - 1) / (n - 1);
        return x.toFixed(1) + ',' + (ht - 2 - v * (ht - 14) / max).toFixed(1);
      }).join(' ');
      svg.querySelector('polyline[data-line="' + name + '"]').setAttribute('points', pts);
    });
    svg.dataset.points = String(n);
    document.getElementById('history-max').textContent = 'max ' + max;
    document.getElementById('history-count').textContent = String(n);
  }

  function get(path) {
    return fetch(path + query(), { credentials: 'same-origin', cache: 'no-store' }).then(function (r) {
      if (!r.ok) { throw new Error(path + ': ' + r.status); }
      return r.json();
    });
  }

  function refresh() {
    clearTimeout(timer);
    Promise.all([get('/api/v1/poll'), get('/api/v1/history')]).then(function (r) {
      updateSummary(r[0]);
      if (!r[0].at) { return; } // no poll yet: the server's page says so, and nothing else changes
      updateDiagram(r[0]);
      updateFindings(r[0]);
      updateOwners(r[0]);
      updateHistory(r[1]);
      document.body.dataset.updated = r[0].at;
    }, function (e) {
      document.getElementById('summary').textContent = 'Cannot reach the daemon (' + e.message + '); retrying.';
    }).then(function () { timer = setTimeout(refresh, interval); });
  }

  form.querySelector('button').hidden = true;
  form.addEventListener('change', function () {
    history.replaceState(null, '', '/' + query());
    refresh();
  });
  form.addEventListener('submit', function (e) { e.preventDefault(); refresh(); });
  timer = setTimeout(refresh, interval);
}());
