
"use strict";
(function () {
const T0 = performance.now();
const byId = (id) => document.getElementById(id);
const D = JSON.parse(byId("data").textContent);
const dirs = D.dirs, groups = D.groups, NG = groups.length;
const NF = new Intl.NumberFormat("en-US");
const fmt = (n) => NF.format(n);
const UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
function human(n) {
  if (n < 1024) return fmt(n) + " B";
  let v = n, i = 0;
  while (v >= 1024 && i < UNITS.length - 1) { v /= 1024; i++; }
  let r = Math.floor(v * 10 + 0.5) / 10;
  if (r >= 1024 && i < UNITS.length - 1) { r = Math.floor(r / 1024 * 10 + 0.5) / 10; i++; }
  return r.toFixed(1) + " " + UNITS[i];
}
// Sizes as the command line reads them (units.py): K/KB, M/MB, G/GB, T/TB powers of 1000, KiB, MiB,
// GiB, TiB powers of 1024; the unit table comes with the page's data, the pattern is units.py's.
const SIZE_RE = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/;
function parseSize(s) {
  const m = SIZE_RE.exec(s);
  if (!m) return NaN;
  const mult = D.units[m[2].toLowerCase()];
  return mult === undefined ? NaN : Math.round(parseFloat(m[1]) * mult);
}
const LINKS = new Map();   // "group:file" -> [dirIndex, name, ...], the file's other names (hard links)
for (const row of D.links || []) LINKS.set(row[0] + ":" + row[1], row.slice(2));
const MARKS = new Map();   // "group:file" -> what --action does (or did) to the file
for (const row of D.marks || []) MARKS.set(row[0] + ":" + row[1], row[2]);
const SEEN = new Map();    // "group:file" -> when another host last saw the file (host:/abs/path)
for (const row of D.seen || []) SEEN.set(row[0] + ":" + row[1], row[2]);
const INTERRUPTED = document.body.dataset.status === "interrupted";
function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text != null) e.textContent = text;
  return e;
}
const NS = byId("chart").namespaceURI;
function sv(tag, attrs, parent) {
  const e = document.createElementNS(NS, tag);
  for (const k in attrs) e.setAttribute(k, attrs[k]);
  if (parent) parent.appendChild(e);
  return e;
}
function icon(kind) {
  const s = sv("svg", {viewBox: "0 0 16 16", "aria-hidden": "true", fill: "none", stroke: "currentColor",
    "stroke-width": "1.5", "stroke-linecap": "round", "stroke-linejoin": "round"});
  if (kind === "check") sv("path", {d: "M3.5 8.5l3 3 6-7"}, s);
  else {
    sv("rect", {x: "5.5", y: "5.5", width: "8", height: "8", rx: "1.5"}, s);
    sv("path", {d: "M10.5 5.5V4A1.5 1.5 0 0 0 9 2.5H4A1.5 1.5 0 0 0 2.5 4v5A1.5 1.5 0 0 0 4 10.5h1.5"}, s);
  }
  return s;
}
// Invisible and reordering characters are shown as markers (same set as the generator's).
const CTL = /[\u0000-\u001f\u007f-\u009f\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2028\u2029\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb]/;
const CTL_G = new RegExp(CTL.source, "g");
const CTL_NAMES = {9: "TAB", 10: "LF", 13: "CR"};
function appendPlain(parent, text) {
  if (!CTL.test(text)) { if (text) parent.appendChild(document.createTextNode(text)); return; }
  let last = 0;
  text.replace(CTL_G, (c, off) => {
    if (off > last) parent.appendChild(document.createTextNode(text.slice(last, off)));
    const cp = c.charCodeAt(0);
    const code = "U+" + cp.toString(16).toUpperCase().padStart(4, "0");
    const b = el("span", "ctl", CTL_NAMES[cp] || code);
    b.title = "Invisible character " + code + " in the name";
    parent.appendChild(b);
    last = off + c.length;
    return c;
  });
  if (last < text.length) parent.appendChild(document.createTextNode(text.slice(last)));
}
function appendText(parent, text, marks) {
  if (!marks || !marks.length) { appendPlain(parent, text); return; }
  let pos = 0;
  for (const [s, e] of marks) {
    if (s > pos) appendPlain(parent, text.slice(pos, s));
    const m = document.createElement("mark");
    appendPlain(m, text.slice(s, e));
    parent.appendChild(m);
    pos = e;
  }
  if (pos < text.length) appendPlain(parent, text.slice(pos));
}
function findMarks(full, q) {
  if (!q) return null;
  const lower = full.toLowerCase();
  if (lower.length !== full.length) return null;
  const out = [];
  for (let i = lower.indexOf(q); i >= 0; i = lower.indexOf(q, i + q.length)) out.push([i, i + q.length]);
  return out;
}
function clip(marks, a, b) {
  if (!marks) return null;
  const out = [];
  for (const [s, e] of marks) {
    const s2 = Math.max(s, a), e2 = Math.min(e, b);
    if (s2 < e2) out.push([s2 - a, e2 - a]);
  }
  return out;
}
function pathEl(dir, name, q) {
  const full = dir + name, marks = findMarks(full, q);
  const p = el("span", "path");
  const ds = el("span", "dir"), ns = el("span", "name");
  appendText(ds, dir, clip(marks, 0, dir.length));
  appendText(ns, name, clip(marks, dir.length, full.length));
  p.append(ds, ns);
  return p;
}
function extOf(name) {
  const i = name.lastIndexOf(".");
  return i > 0 && i < name.length - 1 ? name.slice(i + 1).toLowerCase() : "";
}
function shortHash(h) { return h.length > 12 ? h.slice(0, 12) : h; }

// ---- clipboard
const toast = byId("toast");
let toastTimer = 0;
function showToast(msg) {
  toast.textContent = msg;
  toast.classList.add("show");
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => toast.classList.remove("show"), 1800);
}
async function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) {
    try { await navigator.clipboard.writeText(text); return true; } catch (e) { /* try the fallback */ }
  }
  const active = document.activeElement;
  const ta = el("textarea", "clip-helper");
  ta.value = text;
  ta.readOnly = true;
  document.body.appendChild(ta);
  ta.select();
  let ok = false;
  try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
  ta.remove();
  if (active && active.focus) active.focus();
  return ok;
}
function copyButton(label) {
  const b = el("button", "copy");
  b.type = "button";
  b.title = label;
  b.setAttribute("aria-label", label);
  b.appendChild(icon("copy"));
  b.appendChild(el("span", "copy-label", "Copy"));
  return b;
}
async function doCopy(btn, text, what) {
  const ok = await copyText(text);
  const lab = btn.querySelector(".copy-label");
  btn.classList.toggle("copied", ok);
  btn.classList.toggle("failed", !ok);
  btn.replaceChild(icon(ok ? "check" : "copy"), btn.querySelector("svg"));
  const dflt = btn.dataset.label || "Copy";
  lab.textContent = ok ? "Copied" : "Failed";
  showToast(ok ? "Copied " + what : "Could not copy: select the path and press Ctrl+C");
  clearTimeout(btn._t);
  btn._t = setTimeout(() => {
    btn.classList.remove("copied", "failed");
    btn.replaceChild(icon("copy"), btn.querySelector("svg"));
    lab.textContent = dflt;
  }, 1500);
}

// ---- duplicate groups: filters, sort, pages
const f = {text: byId("f-text"), min: byId("f-min"), max: byId("f-max"), ext: byId("f-ext"),
  copies: byId("f-copies"), sort: byId("f-sort")};
const state = {q: "", min: 0, max: Infinity, exts: null, copies: 0, sort: "wasted", page: 0, size: 50};
let filtered = [], hay = null, firstPaths = null;
function haystacks() {
  if (hay) return hay;
  const dl = dirs.map((d) => d.toLowerCase());
  hay = new Array(NG);
  for (let i = 0; i < NG; i++) {
    const g = groups[i];
    let s = "";
    for (let k = 4; k < g.length; k += 2) s += dl[g[k]] + g[k + 1].toLowerCase() + "\u0000";
    hay[i] = s;
  }
  return hay;
}
function groupHasExt(g, exts) {
  for (let k = 5; k < g.length; k += 2) if (exts.has(extOf(g[k]))) return true;
  return false;
}
function readFilters() {
  state.q = f.text.value.trim().toLowerCase();
  for (const [inp, key, dflt] of [[f.min, "min", 0], [f.max, "max", Infinity]]) {
    const s = inp.value.trim();
    const v = s ? parseSize(s) : dflt;
    const bad = Number.isNaN(v);
    inp.classList.toggle("invalid", bad);
    inp.setAttribute("aria-invalid", bad ? "true" : "false");
    inp.title = bad ? "Not a size: use e.g. 4096, 100K (1000s), 4MiB (1024s), 2G" : "";
    state[key] = bad ? dflt : v;
    state[key + "Bad"] = bad ? s : null;
  }
  const exts = f.ext.value.split(/[\s,;]+/).map((e) => e.replace(/^\*?\./, "").toLowerCase()).filter(Boolean);
  state.exts = exts.length ? new Set(exts) : null;
  const c = parseInt(f.copies.value, 10);
  state.copies = Number.isFinite(c) ? c : 0;
  state.sort = f.sort.value;
}
function firstPath(i) {
  if (!firstPaths) firstPaths = new Array(NG);
  let s = firstPaths[i];
  if (s === undefined) { const g = groups[i]; s = firstPaths[i] = g.length > 4 ? dirs[g[4]] + g[5] : ""; }
  return s;
}
const SORTS = {
  wasted: (a, b) => groups[b][3] - groups[a][3] || a - b,
  size: (a, b) => groups[b][0] - groups[a][0] || a - b,
  copies: (a, b) => groups[b][2] - groups[a][2] || a - b,
  path: (a, b) => { const x = firstPath(a), y = firstPath(b); return x < y ? -1 : x > y ? 1 : a - b; },
};
function recompute() {
  readFilters();
  const {q, min, max, exts, copies} = state;
  const H = q ? haystacks() : null;
  const out = [];
  for (let i = 0; i < NG; i++) {
    const g = groups[i];
    if (g[0] < min || g[0] > max || g[2] < copies) continue;
    if (H && H[i].indexOf(q) < 0) continue;
    if (exts && !groupHasExt(g, exts)) continue;
    out.push(i);
  }
  out.sort(SORTS[state.sort]);   // stable, ties keep the report's order
  filtered = out;
  state.page = 0;
  renderSummary();
  renderPage();
  drawChart();
}
function renderSummary() {
  let w = 0, nf = 0;
  for (const i of filtered) { w += groups[i][3]; nf += (groups[i].length - 4) / 2; }
  const ignored = [["Min", state.minBad], ["Max", state.maxBad]].filter(([, v]) => v)
    .map(([what, v]) => " " + what + " size \u201c" + v + "\u201d is not a size and is ignored.").join("");
  byId("summary").textContent = "Showing " + fmt(filtered.length) + " of " + fmt(NG) + " groups, " + human(w) +
    " wasted" + (filtered.length ? " (" + fmt(nf) + " files)" : "") + "." + ignored;
}
const pagers = Array.from(document.querySelectorAll("#panel-groups .pager"));
function pageCount() { return Math.max(1, Math.ceil(filtered.length / state.size)); }
const MAX_PATHS = 12, MORE_STEP = 500;
function groupCard(gi, rank) {
  const g = groups[gi], n = (g.length - 4) / 2;
  const art = el("article", "group");
  art.dataset.g = gi;
  const head = el("div", "ghead");
  head.append(el("span", "rank", "#" + fmt(rank)), el("span", "gwasted", human(g[3]) + " wasted"),
    el("span", "gmeta", fmt(g[2]) + " copies \u00d7 " + human(g[0]) + (g[0] >= 1024 ? " (" + fmt(g[0]) + " bytes)" : "")));
  const h = el("code", "ghash", shortHash(g[1]));
  h.title = g[1];
  const all = copyButton("Copy all " + fmt(n) + " paths, one per line");
  all.classList.add("copy-all");
  all.lastChild.textContent = all.dataset.label = "Copy all";
  all.dataset.all = "1";
  head.append(h, all);
  const ol = el("ol", "files");
  const shown = n <= MAX_PATHS + 3 ? n : MAX_PATHS;
  appendFiles(ol, gi, 0, shown);
  art.append(head, ol);
  if (shown < n) addMore(art, ol, gi, shown, n);
  return art;
}
function appendFiles(ol, gi, from, to) {
  const g = groups[gi], q = state.q;
  for (let j = from; j < to; j++) {
    const li = el("li", "file");
    const b = copyButton("Copy path");
    b.dataset.f = j;
    const body = el("div", "fbody");
    body.append(pathEl(dirs[g[4 + 2 * j]], g[5 + 2 * j], q));
    const mark = MARKS.get(gi + ":" + j);
    if (mark) body.append(el("span", mark.startsWith("kept") ? "mark-act kept" : "mark-act", mark));
    const seen = SEEN.get(gi + ":" + j);
    if (seen) body.append(el("span", "seen-at", seen));
    const others = LINKS.get(gi + ":" + j);
    if (others) {
      const also = el("div", "links");
      also.append(el("span", "links-label", "Same file, also named (hard links):"));
      for (let k = 0; k < others.length; k += 2) also.append(pathEl(dirs[others[k]], others[k + 1], q));
      also.title = "These names share one file: removing only one of them frees no space.";
      body.appendChild(also);
    }
    li.append(b, body);
    ol.appendChild(li);
  }
}
function addMore(art, ol, gi, shown, n) {
  const btn = el("button", "btn more", "Show " + fmt(Math.min(MORE_STEP, n - shown)) + " more of " + fmt(n) + " paths");
  btn.type = "button";
  btn.addEventListener("click", () => {
    const to = Math.min(n, shown + MORE_STEP);
    appendFiles(ol, gi, shown, to);
    btn.remove();
    if (to < n) addMore(art, ol, gi, to, n);
  });
  art.appendChild(btn);
}
function renderPage() {
  const pc = pageCount();
  state.page = Math.min(Math.max(0, state.page), pc - 1);
  const start = state.page * state.size, end = Math.min(filtered.length, start + state.size);
  const frag = document.createDocumentFragment();
  for (let k = start; k < end; k++) frag.appendChild(groupCard(filtered[k], k + 1));
  if (!filtered.length) {
    frag.appendChild(el("div", "empty-state", NG ? "No group matches these filters." : INTERRUPTED ?
      "No duplicates among the files compared before the scan was interrupted (see above)." :
      "No duplicate files were found."));
  }
  byId("groups").replaceChildren(frag);
  for (const p of pagers) {
    p.querySelector(".page-count").textContent = fmt(pc);
    const inp = p.querySelector(".page-input");
    inp.value = state.page + 1;
    inp.max = pc;
    p.querySelector("[data-act=first]").disabled = p.querySelector("[data-act=prev]").disabled = state.page === 0;
    p.querySelector("[data-act=last]").disabled = p.querySelector("[data-act=next]").disabled = state.page >= pc - 1;
  }
  byId("range").textContent = filtered.length ? "Groups " + fmt(start + 1) + "\u2013" + fmt(end) + " of " + fmt(filtered.length) : "";
}
function goPage(p, fromBottom) {
  state.page = p;
  renderPage();
  if (fromBottom) byId("controls").scrollIntoView({block: "start"});
}
for (const p of pagers) {
  const bottom = p.dataset.where === "bottom";
  p.addEventListener("click", (e) => {
    const b = e.target.closest("button[data-act]");
    if (!b || b.disabled) return;
    const act = b.dataset.act, pc = pageCount();
    goPage(act === "first" ? 0 : act === "prev" ? state.page - 1 : act === "next" ? state.page + 1 : pc - 1, bottom);
  });
  p.querySelector(".page-input").addEventListener("change", (e) => {
    const v = parseInt(e.target.value, 10);
    if (Number.isFinite(v)) goPage(v - 1, bottom); else renderPage();
  });
}
byId("groups").addEventListener("click", (e) => {
  const b = e.target.closest("button.copy");
  if (!b) return;
  const art = b.closest(".group"), g = groups[+art.dataset.g];
  if (b.dataset.all) {
    const ps = [];
    for (let k = 4; k < g.length; k += 2) ps.push(dirs[g[k]] + g[k + 1]);
    doCopy(b, ps.join("\n"), fmt(ps.length) + " paths");
  } else {
    const j = +b.dataset.f;
    doCopy(b, dirs[g[4 + 2 * j]] + g[5 + 2 * j], g[5 + 2 * j]);
  }
});
let debounce = 0;
function later() { clearTimeout(debounce); debounce = setTimeout(recompute, NG > 20000 ? 200 : 60); }
for (const k of ["text", "min", "max", "ext", "copies"]) f[k].addEventListener("input", later);
f.sort.addEventListener("change", recompute);
byId("f-reset").addEventListener("click", () => {
  for (const k of ["text", "min", "max", "ext", "copies"]) f[k].value = "";
  f.sort.value = "wasted";
  recompute();
});
document.addEventListener("keydown", (e) => {
  if (e.key !== "/" || e.ctrlKey || e.metaKey || e.altKey) return;
  const t = e.target;
  if (t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT")) return;
  e.preventDefault();
  f.text.focus();
});

// ---- chart: where the wasted space is (each group's wasted bytes shared evenly by its copies)
let chartMode = "dir", depth = 0, buckets = null;
const SEP = "/";
const ROOTS = (D.roots || []).map((r) => r.endsWith(SEP) || r.endsWith("/") ? r : r + SEP);
function bucketOf(d) {
  if (!depth) return d;
  if (!buckets) buckets = new Map();
  let b = buckets.get(d);
  if (b !== undefined) return b;
  const s = dirs[d];
  let pos = 0;
  for (const r of ROOTS) if (r.length > pos && s.startsWith(r)) pos = r.length;
  for (let i = 0; i < depth && pos < s.length; i++) {
    const j = s.indexOf(SEP, pos);
    pos = j < 0 ? s.length : j + 1;
  }
  b = s.slice(0, pos);
  buckets.set(d, b);
  return b;
}
function pctText(p) { return p >= 10 ? p.toFixed(0) + "%" : p >= 1 ? p.toFixed(1) + "%" : p >= 0.01 ? p.toFixed(2) + "%" : "<0.01%"; }
function chartItems() {
  const acc = new Map();
  let total = 0;
  for (const i of filtered) {
    const g = groups[i], n = (g.length - 4) / 2;
    if (!n || !g[3]) continue;
    const share = g[3] / n;
    total += g[3];
    for (let k = 4; k < g.length; k += 2) {
      const key = chartMode === "dir" ? bucketOf(g[k]) : extOf(g[k + 1]);
      acc.set(key, (acc.get(key) || 0) + share);
    }
  }
  const items = Array.from(acc, ([key, value]) => ({key, value}));
  items.sort((a, b) => b.value - a.value);
  return {items: items.slice(0, 10), total, count: items.length};
}
function ellipsize(s, max, left) {
  if (s.length <= max) return s;
  return left ? "\u2026" + s.slice(s.length - max + 1) : s.slice(0, max - 1) + "\u2026";
}
function cleanLabel(s) { return s.replace(CTL_G, "\ufffd"); }
function drawChart() {
  const svg = byId("chart");
  const {items, total, count} = chartItems();
  const W = Math.max(300, byId("chart-box").clientWidth);
  const rowH = 23, pad = 3;
  const H = items.length ? items.length * rowH + pad * 2 : 36;
  svg.setAttribute("width", W);
  svg.setAttribute("height", H);
  svg.setAttribute("viewBox", "0 0 " + W + " " + H);
  svg.replaceChildren();
  const what = chartMode === "dir" ? "directories" : "extensions";
  byId("chart-note").textContent = items.length ?
    "Top " + items.length + " of " + fmt(count) + " " + what + " by wasted space in the groups shown; each group's wasted space is shared evenly by its copies. Click a bar to filter." :
    "";
  if (!items.length) {
    sv("text", {x: 0, y: 22, class: "empty"}, svg).textContent = "No wasted space in the groups shown.";
    return;
  }
  const narrow = W < 560;
  const labelW = Math.round(Math.min(W * (narrow ? 0.45 : 0.42), 430));
  const valW = narrow ? 78 : 150;
  const barX = labelW + 12, barMax = Math.max(20, W - barX - valW - 8);
  const max = items[0].value;
  const maxChars = Math.max(6, Math.floor((labelW - 4) / 7.3));
  items.forEach((it, r) => {
    const y = pad + r * rowH;
    const label = chartMode === "dir" ? (depth ? it.key : dirs[it.key]) : it.key ? "." + it.key : "(no extension)";
    const row = sv("g", {class: "row", tabindex: "0", role: "button"}, svg);
    const pct = total ? (100 * it.value / total) : 0;
    sv("title", {}, row).textContent = label + "\n" + human(Math.round(it.value)) + " wasted (" + pctText(pct) + ")";
    sv("text", {x: labelW, y: y + rowH / 2, "text-anchor": "end", "dominant-baseline": "central", class: "lbl"}, row)
      .textContent = ellipsize(cleanLabel(label), maxChars, chartMode === "dir");
    sv("rect", {x: barX, y: y + 4, width: barMax, height: rowH - 8, rx: 3, class: "bar-bg"}, row);
    sv("rect", {x: barX, y: y + 4, width: Math.max(2, barMax * it.value / max).toFixed(1), height: rowH - 8, rx: 3, class: "bar"}, row);
    sv("text", {x: barX + barMax + 8, y: y + rowH / 2, "dominant-baseline": "central", class: "val"}, row)
      .textContent = human(Math.round(it.value)) + (narrow ? "" : " \u00b7 " + pctText(pct));
    const pick = () => {
      if (chartMode === "dir") f.text.value = label; else f.ext.value = it.key || "";
      recompute();
    };
    row.addEventListener("click", pick);
    row.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); pick(); } });
  });
}
for (const b of document.querySelectorAll(".seg-btn")) {
  b.addEventListener("click", () => {
    chartMode = b.dataset.mode;
    byId("chart-depth").disabled = chartMode !== "dir";
    for (const o of document.querySelectorAll(".seg-btn")) o.setAttribute("aria-pressed", o === b ? "true" : "false");
    drawChart();
  });
}
byId("chart-depth").addEventListener("change", (e) => { depth = +e.target.value; buckets = null; drawChart(); });
let resizeTimer = 0;
window.addEventListener("resize", () => { clearTimeout(resizeTimer); resizeTimer = setTimeout(drawChart, 120); });

// ---- extension suggestions
(function () {
  const counts = new Map();
  const step = Math.max(1, Math.floor(NG / 20000));
  for (let i = 0; i < NG; i += step) {
    const g = groups[i];
    const e = g.length > 5 ? extOf(g[5]) : "";
    if (e) counts.set(e, (counts.get(e) || 0) + 1);
  }
  const top = Array.from(counts).sort((a, b) => b[1] - a[1]).slice(0, 30);
  const dl = byId("ext-list");
  for (const [e] of top) { const o = document.createElement("option"); o.value = e; dl.appendChild(o); }
})();

// ---- errors beyond the ones rendered into the page
const moreErr = byId("errors-more");
if (moreErr) {
  let at = 0;
  moreErr.addEventListener("click", () => {
    const ul = byId("error-list"), rest = D.errorsRest, to = Math.min(rest.length, at + 1000);
    for (; at < to; at++) {
      const li = el("li");
      const p = el("span", "epath"), m = el("span", "emsg");
      appendPlain(p, rest[at][0]);
      appendPlain(m, rest[at][1]);
      li.append(p, m);
      ul.appendChild(li);
    }
    if (at >= rest.length) moreErr.remove(); else moreErr.textContent = "Show " + fmt(Math.min(1000, rest.length - at)) + " more";
  });
}

// ---- tabs
const tabs = Array.from(document.querySelectorAll(".tab"));
let filesReady = false;
for (const t of tabs) {
  t.addEventListener("click", () => {
    for (const o of tabs) {
      const on = o === t;
      o.setAttribute("aria-selected", on ? "true" : "false");
      byId(o.getAttribute("aria-controls")).hidden = !on;
    }
    if (t.id === "tab-files" && !filesReady && Array.isArray(D.files)) { filesReady = true; initFiles(); }
    if (t.id === "tab-groups") drawChart();
  });
}

// ---- all files table
function initFiles() {
  const rows = D.files, NR = rows.length;
  const MiB = 1048576;
  const CATS = [[0, MiB, "< 1 MiB"], [MiB, 5 * MiB, "1\u20135 MiB"], [5 * MiB, 50 * MiB, "5\u201350 MiB"],
    [50 * MiB, 500 * MiB, "50\u2013500 MiB"], [500 * MiB, 1024 * MiB, "500 MiB\u20131 GiB"],
    [1024 * MiB, 2048 * MiB, "1\u20132 GiB"], [2048 * MiB, Infinity, "> 2 GiB"]];
  const catOf = (s) => { for (let c = 0; c < CATS.length; c++) if (s < CATS[c][1]) return c; return CATS.length - 1; };
  const copies = new Map();
  for (const g of groups) copies.set(g[1] + ":" + g[0], g[2]);
  const cat = new Uint8Array(NR), cps = new Uint32Array(NR);
  const catCount = new Array(CATS.length).fill(0), catBytes = new Array(CATS.length).fill(0);
  for (let r = 0; r < NR; r++) {
    const row = rows[r], c = catOf(row[2]);
    cat[r] = c; catCount[c]++; catBytes[c] += row[2];
    cps[r] = row[3] == null ? 0 : copies.get(row[3] + ":" + row[2]) || 1;
  }
  let full = null, lower = null;
  const paths = () => full || (full = rows.map((r) => dirs[r[0]] + r[1]));
  const lowers = () => lower || (lower = paths().map((p) => p.toLowerCase()));
  const st = {q: "", cat: -1, dups: false, key: "path", dir: 1, page: 0, size: 100};
  let view = [];
  const sel = byId("ff-cat"), chips = byId("ff-chips");
  CATS.forEach((c, i) => {
    const o = document.createElement("option");
    o.value = i; o.textContent = c[2] + " (" + fmt(catCount[i]) + ")";
    sel.appendChild(o);
    const b = el("button", "chip");
    b.type = "button"; b.dataset.cat = i; b.setAttribute("aria-pressed", "false");
    const strong = el("b", null, c[2]);
    b.append(strong, el("span", null, fmt(catCount[i]) + " files \u00b7 " + human(catBytes[i])));
    b.addEventListener("click", () => { sel.value = st.cat === i ? "" : String(i); update(); });
    chips.appendChild(b);
  });
  const cmp = {
    path: (a, b) => { const P = paths(), x = P[a], y = P[b]; return x < y ? -1 : x > y ? 1 : 0; },
    size: (a, b) => rows[a][2] - rows[b][2] || a - b,
    cat: (a, b) => cat[a] - cat[b] || rows[a][2] - rows[b][2] || a - b,
    copies: (a, b) => cps[a] - cps[b] || a - b,
  };
  function update() {
    st.q = byId("ff-text").value.trim().toLowerCase();
    st.cat = sel.value === "" ? -1 : +sel.value;
    st.dups = byId("ff-dups").checked;
    const L = st.q ? lowers() : null, out = [];
    for (let r = 0; r < NR; r++) {
      if (st.cat >= 0 && cat[r] !== st.cat) continue;
      if (st.dups && cps[r] < 2) continue;
      if (L && L[r].indexOf(st.q) < 0) continue;
      out.push(r);
    }
    const c = cmp[st.key];
    out.sort(st.dir > 0 ? c : (a, b) => c(b, a));
    view = out;
    st.page = 0;
    for (const b of chips.children) b.setAttribute("aria-pressed", +b.dataset.cat === st.cat ? "true" : "false");
    render();
  }
  function render() {
    const pc = Math.max(1, Math.ceil(view.length / st.size));
    st.page = Math.min(Math.max(0, st.page), pc - 1);
    const start = st.page * st.size, end = Math.min(view.length, start + st.size);
    const frag = document.createDocumentFragment();
    for (let k = start; k < end; k++) {
      const r = view[k], row = rows[r];
      const tr = el("tr");
      tr.dataset.r = r;
      const c0 = el("td", "c-copy"); c0.appendChild(copyButton("Copy path"));
      const c1 = el("td"); c1.appendChild(pathEl(dirs[row[0]], row[1], st.q));
      const c2 = el("td", "num", human(row[2])); c2.title = fmt(row[2]) + " bytes";
      const c3 = el("td", "cat", CATS[cat[r]][2]);
      const c4 = el("td", "num" + (cps[r] > 1 ? " dup" : ""), cps[r] > 1 ? "\u00d7" + fmt(cps[r]) : row[3] == null ? "\u2014" : "1");
      const c5 = el("td", "c-hash", row[3] == null ? "not hashed" : shortHash(row[3]));
      if (row[3] != null) c5.title = row[3];
      tr.append(c0, c1, c2, c3, c4, c5);
      frag.appendChild(tr);
    }
    byId("files-body").replaceChildren(frag);
    let bytes = 0;
    for (const r of view) bytes += rows[r][2];
    byId("files-summary").textContent = "Showing " + fmt(view.length) + " of " + fmt(NR) + " files, " + human(bytes);
    const p = byId("files-pager");
    p.querySelector(".page-count").textContent = fmt(pc);
    const inp = p.querySelector(".page-input");
    inp.value = st.page + 1; inp.max = pc;
    p.querySelector("[data-act=prev]").disabled = st.page === 0;
    p.querySelector("[data-act=next]").disabled = st.page >= pc - 1;
    for (const th of document.querySelectorAll("#files-table th[data-key]")) {
      th.setAttribute("aria-sort", th.dataset.key === st.key ? (st.dir > 0 ? "ascending" : "descending") : "none");
    }
  }
  let t = 0;
  byId("ff-text").addEventListener("input", () => { clearTimeout(t); t = setTimeout(update, NR > 20000 ? 200 : 60); });
  sel.addEventListener("change", update);
  byId("ff-dups").addEventListener("change", update);
  for (const th of document.querySelectorAll("#files-table th[data-key]")) {
    th.querySelector("button").addEventListener("click", () => {
      const k = th.dataset.key;
      if (st.key === k) st.dir = -st.dir; else { st.key = k; st.dir = k === "path" ? 1 : -1; }
      update();
    });
  }
  const p = byId("files-pager");
  p.addEventListener("click", (e) => {
    const b = e.target.closest("button[data-act]");
    if (!b || b.disabled) return;
    st.page += b.dataset.act === "next" ? 1 : -1;
    render();
  });
  p.querySelector(".page-input").addEventListener("change", (e) => {
    const v = parseInt(e.target.value, 10);
    if (Number.isFinite(v)) st.page = v - 1;
    render();
  });
  byId("files-body").addEventListener("click", (e) => {
    const b = e.target.closest("button.copy");
    if (!b) return;
    const row = rows[+b.closest("tr").dataset.r];
    doCopy(b, dirs[row[0]] + row[1], row[1]);
  });
  update();
}

recompute();
document.documentElement.dataset.ready = "1";
window.dupReport = {parsedMs: T0, readyMs: performance.now(), groups: NG};
})();
