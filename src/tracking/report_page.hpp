#pragma once
// The HTML report's page: head + title + body + data (JSON) + tail. Everything is inline (CSS,
// script, SVG drawn by the script), so the file opens with no network access. The script draws
// each section from the data, then marks it (data-rendered="1" on its <section>); script errors
// are listed in #errors and counted in <body data-errors>; <body data-done="1"> when all is
// drawn, with data-render-ms (what tests and scripts/report_screenshot.sh look at).

#include <string_view>

namespace core::memory::detail {

inline constexpr std::string_view report_page_head = R"html(<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>)html";

inline constexpr std::string_view report_page_body = R"html(</title>
<style>
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1d2330;background:#f5f6f8}
header{background:#1d2330;color:#fff;padding:12px 24px}
header h1{font-size:18px;margin:0}
header p{margin:2px 0 0;color:#b8c0d0;font-size:12px}
main{padding:8px 24px 24px;max-width:1400px}
section{background:#fff;border-radius:6px;box-shadow:0 1px 2px rgba(0,0,0,.12);margin:12px 0;padding:10px 16px}
section h2{font-size:15px;margin:2px 0 8px}
.note{color:#5a6478;font-size:12px;margin:4px 0}
.cards{display:flex;flex-wrap:wrap;gap:10px}
.card{border:1px solid #e1e4ea;border-radius:5px;padding:6px 12px;min-width:120px}
.card b{display:block;font-size:18px}
.card span{color:#5a6478;font-size:12px}
table{border-collapse:collapse;width:100%;font-size:12px}
th,td{padding:3px 6px;border-bottom:1px solid #eceef2;text-align:right;white-space:nowrap}
th{cursor:pointer;background:#f0f2f5;position:sticky;top:0}
td.site,th.site{text-align:left;white-space:normal;word-break:break-all}
.scroll{max-height:420px;overflow:auto}
button{font:inherit;font-size:12px;border:1px solid #c5cad4;background:#fff;border-radius:4px;padding:2px 9px;margin:0 4px 6px 0;cursor:pointer}
button.on{background:#1d2330;color:#fff;border-color:#1d2330}
svg text{font-size:11px;fill:#1d2330}
svg .axis{stroke:#9aa3b2;stroke-width:1}
.flame rect{stroke:#fff;stroke-width:.5;cursor:pointer}
.flame text{pointer-events:none;font-size:11px}
details{margin:2px 0}
summary{cursor:pointer}
pre{margin:2px 0 4px 16px;font-size:11px;white-space:pre-wrap}
#errors{color:#b00020}
</style></head>
<body data-errors="0">
<ul id="errors" hidden></ul>
<script>
window.addEventListener('error', function (e) {
  var list = document.getElementById('errors'), item = document.createElement('li');
  item.textContent = 'script error: ' + e.message + ' (line ' + e.lineno + ')';
  list.appendChild(item); list.hidden = false;
  document.body.dataset.errors = String(list.children.length);
});
</script>
<header><h1 id="title"></h1><p id="subtitle"></p></header>
<main id="main"></main>
<script type="application/json" id="report-data">)html";

inline constexpr std::string_view report_page_tail = R"html(</script>
<script>
'use strict';
const D = JSON.parse(document.getElementById('report-data').textContent);
const isDiff = D.kind === 'diff';
const SVG = 'http://www.w3.org/2000/svg';

function fail(what) {
  const list = document.getElementById('errors'), item = document.createElement('li');
  item.textContent = what; list.appendChild(item); list.hidden = false;
  document.body.dataset.errors = String(list.children.length);
}
function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const k in attrs || {}) e.setAttribute(k, attrs[k]);
  for (const c of kids) e.append(c);
  return e;
}
function sv(tag, attrs, text) {
  const e = document.createElementNS(SVG, tag);
  for (const k in attrs) e.setAttribute(k, attrs[k]);
  if (text !== undefined) e.textContent = text;
  return e;
}
function bytes(n, signed) {
  const s = signed && n > 0 ? '+' : '', a = Math.abs(n), u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0, v = a;
  while (v >= 1024 && i < u.length - 1) { v /= 1024; ++i; }
  return s + (n < 0 ? '-' : '') + (i ? v.toFixed(v < 10 ? 2 : 1) : Math.round(v)) + ' ' + u[i];
}
function count(n, signed) {
  const s = signed && n > 0 ? '+' : '';
  return s + Math.round(n).toLocaleString('en-US');
}
function ms(t) { return t >= 10000 ? (t / 1000).toFixed(1) + ' s' : t >= 1000 ? (t / 1000).toFixed(2) + ' s' : Math.round(t) + ' ms'; }
function base(f) { const i = f.lastIndexOf('/'); return i < 0 ? f : f.slice(i + 1); }
function siteName(s) {
  const parts = [];
  if (s.file) parts.push(base(s.file) + ':' + s.line);
  if (s.function) parts.push(s.function.length > 90 ? s.function.slice(0, 90) + '…' : s.function);
  if (s.type) parts.push('[' + s.type + ']');
  if (s.allocator) parts.push(parts.length ? 'via ' + s.allocator : s.allocator);
  return parts.length ? parts.join(' ') : '(unknown site)';
}
function frameNames(st) { return st.frames.map(i => D.frame_names[i]); }
function section(id, title, note, draw) {
  const s = el('section', {id: id});
  s.append(el('h2', {}, title));
  if (note) s.append(el('p', {class: 'note'}, note));
  document.getElementById('main').append(s);
  try { draw(s); s.dataset.rendered = '1'; } catch (e) { fail(id + ': ' + (e && e.stack ? e.stack : e)); }
}
function buttons(parent, choices, draw) {
  const bar = el('div', {}), list = [];
  for (const [key, label] of choices) {
    const b = el('button', {type: 'button', 'data-key': key}, label);
    b.onclick = () => { list.forEach(x => x.classList.toggle('on', x === b)); draw(key); };
    list.push(b); bar.append(b);
  }
  parent.append(bar);
  list[0].click();
}

// A table of rows; columns are [title, value(row), format(value)]; click a header to sort.
function table(parent, rows, columns, sortBy, limit) {
  const wrap = el('div', {class: 'scroll'}), t = el('table', {});
  wrap.append(t); parent.append(wrap);
  let key = sortBy;
  function fill() {
    t.textContent = '';
    const head = el('tr', {});
    columns.forEach((c, i) => {
      const th = el('th', c[3] ? {class: c[3]} : {}, c[0] + (i === key ? ' ▾' : ''));
      if (c[2]) th.onclick = () => { key = i; fill(); };
      head.append(th);
    });
    t.append(head);
    const sorted = key === undefined ? rows : rows.slice().sort((a, b) => columns[key][1](b) - columns[key][1](a));
    for (const r of sorted.slice(0, limit || 200)) {
      const tr = el('tr', {});
      for (const c of columns) {
        const v = c[1](r);
        tr.append(el('td', c[3] ? {class: c[3]} : {}, c[2] ? c[2](v) : v));
      }
      t.append(tr);
    }
    if (sorted.length > (limit || 200)) t.append(el('tr', {}, el('td', {class: 'site', colspan: columns.length}, '… and ' + (sorted.length - (limit || 200)) + ' more')));
  }
  fill();
}

// ---- Memory in use over time ----
function timeline(s) {
  const pts = D.timeline, W = 1000, H = 240, L = 70, B = 22, T = 8;
  const end = Math.max(1, D.elapsed_ms, ...pts.map(p => p[0]));
  const top = Math.max(1, D.peak_bytes, ...pts.map(p => p[2]));
  const x = t => L + (W - L - 10) * t / end, y = v => T + (H - T - B) * (1 - v / top);
  const g = sv('svg', {viewBox: `0 0 ${W} ${H}`, width: '100%', role: 'img'});
  for (let i = 0; i <= 4; ++i) {
    const v = top * i / 4;
    g.append(sv('line', {class: 'axis', x1: L, x2: W - 10, y1: y(v), y2: y(v), 'stroke-dasharray': i ? '2,3' : ''}));
    g.append(sv('text', {x: L - 6, y: y(v) + 4, 'text-anchor': 'end'}, bytes(v)));
  }
  for (let i = 0; i <= 5; ++i) g.append(sv('text', {x: x(end * i / 5), y: H - 6, 'text-anchor': i < 5 ? 'middle' : 'end'}, ms(end * i / 5)));
  const step = D.timeline_interval_ms;
  let band = '', line = '';
  pts.forEach((p, i) => {
    const x0 = x(p[0]), x1 = x(Math.min(end, i + 1 < pts.length ? Math.min(pts[i + 1][0], p[0] + step) : p[0] + step));
    band += `M${x0},${y(p[2])}H${Math.max(x1, x0 + 1)}V${y(p[1])}H${x0}Z`;
    line += (i ? 'L' : 'M') + x0 + ',' + y(p[2]) + 'H' + Math.max(x1, x0 + 1);
  });
  g.append(sv('path', {d: band, fill: '#7aa6e0', opacity: .45}));
  g.append(sv('path', {d: line, fill: 'none', stroke: '#1f5fbf', 'stroke-width': 1.5}));
  g.append(sv('line', {x1: L, x2: W - 10, y1: y(D.peak_bytes), y2: y(D.peak_bytes), stroke: '#c0392b', 'stroke-dasharray': '4,3'}));
  g.append(sv('text', {x: W - 12, y: y(D.peak_bytes) + 13, 'text-anchor': 'end', fill: '#c0392b'}, 'peak ' + bytes(D.peak_bytes)));
  s.append(g);
}

// ---- Flame graph: root at the top, callers above callees, width = the chosen figure ----
function flame(s, metrics) {
  const box = el('div', {class: 'flame'}), info = el('p', {class: 'note'}, 'Click a frame to zoom in, the root to zoom out.');
  function tree(metric) {
    const root = {name: 'all', value: 0, kids: new Map()};
    for (const st of D.stacks) {
      const v = st[metric];
      if (!(v > 0)) continue;
      const path = frameNames(st).reverse();
      if (st.merged) path.push('(smaller stacks, merged)');
      path.push(siteName(st));
      let n = root; n.value += v;
      for (const name of path) {
        let k = n.kids.get(name);
        if (!k) { k = {name: name, value: 0, kids: new Map(), parent: n}; n.kids.set(name, k); }
        k.value += v; n = k;
      }
    }
    return root;
  }
  function hue(name) { let h = 0; for (let i = 0; i < name.length; ++i) h = (h * 31 + name.charCodeAt(i)) | 0; return h; }
  function draw(metric, focus, root) {
    box.textContent = '';
    const W = 1200, R = 17, fmt = metric.indexOf('bytes') >= 0 ? bytes : count;
    const rows = [];
    let depth = 1;
    (function walk(n, x, w, d) {
      if (w < 0.4) return;
      rows.push([n, x, w, d]);
      depth = Math.max(depth, d + 1);
      let at = x;
      for (const k of [...n.kids.values()].sort((a, b) => b.value - a.value)) {
        const kw = w * k.value / n.value; walk(k, at, kw, d + 1); at += kw;
      }
    })(focus, 0, W, 0);
    const g = sv('svg', {viewBox: `0 0 ${W} ${depth * R}`, width: '100%'});
    for (const [n, x, w, d] of rows) {
      const h = hue(n.name), leaf = n.kids.size === 0;
      const r = sv('rect', {x: x, y: d * R, width: w, height: R - 1,
        fill: leaf ? `hsl(${200 + Math.abs(h) % 40},60%,62%)` : `hsl(${10 + Math.abs(h) % 40},${75 + Math.abs(h >> 8) % 20}%,${58 + Math.abs(h >> 4) % 12}%)`});
      r.append(sv('title', {}, n.name + '\n' + fmt(n.value) + ' (' + (100 * n.value / root.value).toFixed(1) + '%)'));
      r.onclick = () => draw(metric, n === focus && n.parent ? n.parent : n, root);
      g.append(r);
      if (w > 40) g.append(sv('text', {x: x + 3, y: d * R + 12}, n.name.slice(0, Math.floor((w - 6) / 6.5))));
    }
    box.append(g);
    box.dataset.nodes = String(rows.length);
  }
  s.append(info);
  buttons(s, metrics, metric => {
    const root = tree(metric);
    if (!root.value) { box.textContent = 'Nothing to show for this figure.'; box.dataset.nodes = '0'; return; }
    draw(metric, root, root);
  });
  s.append(box);
}

function siteColumns(signed) {
  return [
    ['site', r => siteName(r), null, 'site'],
    ['live bytes', r => r.live_bytes, v => bytes(v, signed)],
    ['live blocks', r => r.live_count, v => count(v, signed)],
    ['bytes allocated', r => r.total_bytes, v => bytes(v, signed)],
    ['allocations', r => r.total_count, v => count(v, signed)],
    ['temporary', r => r.temporary_count, v => count(v, signed)],
  ];
}

function sizes(s, rows) {
  const W = 1000, H = 200, B = 36, T = 14, n = rows.length;
  if (!n) { s.append(el('p', {class: 'note'}, 'No allocations.')); return; }
  const g = sv('svg', {viewBox: `0 0 ${W} ${H}`, width: '100%'});
  const bw = (W - 20) / n, maxc = Math.max(...rows.map(r => r[2])), maxb = Math.max(...rows.map(r => r[3]));
  rows.forEach((r, i) => {
    const x = 10 + i * bw, hc = (H - B - T) * r[2] / maxc, hb = (H - B - T) * r[3] / maxb;
    const label = r[0] === r[1] ? bytes(r[0]) : bytes(r[0]) + '–' + bytes(r[1]);
    const c = sv('rect', {x: x + 2, y: H - B - hc, width: bw / 2 - 3, height: hc, fill: '#1f5fbf'});
    c.append(sv('title', {}, label + ': ' + count(r[2]) + ' allocations'));
    const b = sv('rect', {x: x + bw / 2, y: H - B - hb, width: bw / 2 - 3, height: hb, fill: '#e08a2c'});
    b.append(sv('title', {}, label + ': ' + bytes(r[3])));
    g.append(c, b);
    if (i % Math.ceil(64 / bw) === 0) g.append(sv('text', {x: x + bw / 2, y: H - B + 13, 'text-anchor': 'middle'}, bytes(r[0])));
    if (bw > 56) g.append(sv('text', {x: x + bw / 2, y: H - B - Math.max(hc, hb) - 3, 'text-anchor': 'middle'}, count(r[2])));
  });
  g.append(sv('text', {x: 10, y: H - 4}, 'each class: sizes from the value shown to twice it; blue: allocations, orange: bytes'));
  s.append(g);
}

function cards(s, list) {
  const c = el('div', {class: 'cards'});
  for (const [v, label] of list) c.append(el('div', {class: 'card'}, el('b', {}, v), el('span', {}, label)));
  s.append(c);
}

function report() {
  document.getElementById('title').textContent = 'Memory report: ' + D.tracker;
  document.getElementById('subtitle').textContent = (D.mode === 'sampled' ? 'sampled every ~' + bytes(D.sample_interval) + ' (figures are estimates)' : 'every allocation recorded') + ' · ' + ms(D.elapsed_ms) + ' of recording';
  section('summary', 'Summary', '', s => cards(s, [
    [bytes(D.current_bytes), 'in use now'], [bytes(D.peak_bytes), 'peak'],
    [count(D.allocation_count), 'allocations'], [bytes(D.total_bytes), 'allocated in all'],
    [count(D.live_count), 'live blocks'],
    [count(D.temporary_count) + ' (' + (D.allocation_count ? (100 * D.temporary_count / D.allocation_count).toFixed(1) : 0) + '%)', 'temporary allocations'],
    [count(D.sites.length), 'allocation sites'], [count(D.unmatched_frees), 'frees of unknown blocks']]));
  section('timeline', 'Memory in use over time', 'Band: lowest to highest usage in each interval of ' + ms(D.timeline_interval_ms) + '; line: highest.', timeline);
  section('flamegraph', 'Allocation flame graph', 'Where allocations come from: callers on top, the allocation site last; sites recorded without a stack are one level.',
    s => flame(s, [['total_bytes', 'bytes allocated'], ['total_count', 'allocations'], ['live_bytes', 'live bytes (leaks)'], ['temporary_count', 'temporary allocations']]));
  section('top-sites', 'Top allocation sites', 'Click a column to sort.', s => table(s, D.sites, siteColumns(false), 3, 100));
  section('sizes', 'Allocation sizes', '', s => sizes(s, D.sizes));
  section('temporary', 'Temporary allocations',
    'Freed by the allocating thread before it allocated anything else (heaptrack\'s definition, per thread): candidates for the stack or a reused buffer.',
    s => {
      const rows = D.sites.filter(r => r.temporary_count > 0);
      if (!rows.length) { s.append(el('p', {class: 'note'}, 'No temporary allocations.')); return; }
      table(s, rows, [['site', r => siteName(r), null, 'site'], ['temporary', r => r.temporary_count, count],
        ['of its allocations', r => r.total_count ? 100 * r.temporary_count / r.total_count : 0, v => v.toFixed(1) + '%'],
        ['temporary bytes', r => r.temporary_bytes, bytes]], 1, 100);
    });
  section('leaks', 'Live blocks (leaks, in a report written at exit)', 'Grouped by site and stack, largest first.', s => {
    const rows = D.stacks.filter(r => r.live_count > 0).sort((a, b) => b.live_bytes - a.live_bytes);
    if (!rows.length) { s.append(el('p', {class: 'note'}, 'Nothing live: no leaks.')); return; }
    s.append(el('p', {class: 'note'}, count(D.live_count) + ' blocks, ' + bytes(D.current_bytes) + ' from ' + rows.length + ' sites and stacks.'));
    const box = el('div', {class: 'scroll'});
    for (const r of rows.slice(0, 200)) {
      const d = el('details', {}, el('summary', {}, bytes(r.live_bytes) + ' in ' + count(r.live_count) + ' blocks: ' + siteName(r)));
      d.append(el('pre', {}, (r.merged ? '(smaller stacks merged; their outermost frames:)\n' : '') +
        (r.frames.length ? frameNames(r).map((f, i) => '#' + i + ' ' + f).join('\n') : '(no stack recorded)')));
      box.append(d);
    }
    if (rows.length > 200) box.append(el('p', {class: 'note'}, '… and ' + (rows.length - 200) + ' more'));
    s.append(box);
  });
  section('allocators', 'Allocators', 'The named TrackingAllocators recording into this tracker (memory_stats).', s => {
    if (!D.allocators.length) { s.append(el('p', {class: 'note'}, 'No named allocator records into this tracker.')); return; }
    table(s, D.allocators, [['allocator', a => a.name, null, 'site'], ['in use', a => a.bytes_in_use, bytes],
      ['peak', a => a.peak_bytes, bytes], ['allocations', a => a.allocation_count, count], ['live blocks', a => a.live_count, count],
      ['holds upstream', a => a.upstream_bytes === null ? -1 : a.upstream_bytes, v => v < 0 ? '–' : bytes(v)],
      ['fragmentation', a => a.fragmentation === null ? -1 : a.fragmentation, v => v < 0 ? '–' : (100 * v).toFixed(1) + '%']]);
  });
}

function diff() {
  const a = D.before, b = D.after;
  document.getElementById('title').textContent = 'Memory diff: ' + D.tracker;
  document.getElementById('subtitle').textContent = 'from ' + ms(D.before_ms) + ' to ' + ms(D.after_ms) + ' of recording';
  section('summary', 'What changed', '', s => cards(s, [
    [bytes(b.current_bytes - a.current_bytes, true), 'in use (' + bytes(a.current_bytes) + ' → ' + bytes(b.current_bytes) + ')'],
    [count(b.live_count - a.live_count, true), 'live blocks'],
    [bytes(b.peak_bytes), 'peak (was ' + bytes(a.peak_bytes) + ')'],
    [count(b.allocation_count - a.allocation_count), 'allocations in between'],
    [bytes(b.total_bytes - a.total_bytes), 'allocated in between'],
    [count(b.temporary_count - a.temporary_count), 'temporary in between']]));
  section('flamegraph', 'Where memory grew', 'Flame graph of the growth by site and stack.',
    s => flame(s, [['live_bytes', 'live bytes grown'], ['total_bytes', 'bytes allocated'], ['total_count', 'allocations']]));
  section('top-sites', 'Sites that changed', 'Figures are after − before; sorted by growth of live bytes.', s => table(s, D.sites, siteColumns(true), 1, 200));
  section('sizes', 'Sizes allocated in between', '', s => sizes(s, D.sizes));
}

try { isDiff ? diff() : report(); } catch (e) { fail('report: ' + (e && e.stack ? e.stack : e)); }
document.body.dataset.renderMs = String(Math.round(performance.now()));
document.body.dataset.done = '1';
</script>
</body></html>
)html";

}  // namespace core::memory::detail
