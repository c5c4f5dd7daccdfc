// jmesos dashboard: draws the snapshots the kernel sends (see jmesos/widgets/snapshot.py).
// Plain SVG and DOM, no plotting library: the kernel sends small, bounded snapshots and
// this file only draws them. Each view redraws when its trait changes and it is visible.

const SVGNS = "http://www.w3.org/2000/svg";
const TITLES = {
  cluster: "Cluster",
  offers: "Offers",
  allocation: "Allocation",
  tasks: "Tasks",
  locality: "Locality",
  trace: "Message trace",
};
const OUTCOME_LABELS = {
  accepted: "accepted",
  declined: "declined",
  rescinded: "rescinded",
  timed_out: "timed out",
  pending: "outstanding",
};
const BAD = "#d62728";
const OFFERED = "#6b7a8c";

function el(tag, attrs, parent, text) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v !== undefined && v !== null) node.setAttribute(k, v);
  }
  if (text !== undefined) node.textContent = text;
  if (parent) parent.appendChild(node);
  return node;
}

function sv(tag, attrs, parent, text) {
  const node = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v !== undefined && v !== null) node.setAttribute(k, v);
  }
  if (text !== undefined) node.textContent = text;
  if (parent) parent.appendChild(node);
  return node;
}

function fmt(x, unit) {
  if (x === null || x === undefined) return "";
  if (unit === "MiB") return x >= 1024 ? `${+(x / 1024).toFixed(2)}GiB` : `${+x.toFixed(0)}MiB`;
  return `${+(+x).toFixed(2)}`;
}

// an agent no longer in the cluster: "left" if it shut down and said goodbye, "dead" if the master gave up on it
function goneClass(agent) {
  return agent.left ? "left" : "dead";
}

function pct(x) {
  return `${Math.round(100 * (x || 0))}%`;
}

// a framework's dominant share of what its tasks hold, and with the offers it has not answered yet when it has some
function shareText(f) {
  return pct(f.held) === pct(f.with_offers) ? pct(f.held) : `${pct(f.held)} (${pct(f.with_offers)} with offers out)`;
}

function ticks(t0, t1, n) {
  const span = Math.max(1e-9, t1 - t0);
  const raw = span / n;
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) || raw;
  const out = [];
  for (let t = Math.ceil(t0 / step) * step; t <= t1 + 1e-9; t += step) out.push(+t.toFixed(6));
  return out;
}

function timeAxis(svg, x, t0, t1, y, left, right) {
  sv("line", { x1: left, x2: right, y1: y, y2: y, class: "jm-axis" }, svg);
  for (const t of ticks(t0, t1, Math.max(2, Math.floor((right - left) / 90)))) {
    const px = x(t);
    sv("line", { x1: px, x2: px, y1: y, y2: y + 4, class: "jm-axis" }, svg);
    sv("text", { x: px, y: y + 15, class: "jm-tick", "text-anchor": "middle" }, svg, `${+t.toFixed(1)}s`);
  }
}

function empty(pane, text) {
  el("div", { class: "jm-empty" }, pane, text);
}

// ------------------------------------------------------------------ 1. cluster graph
// offered resources: promised to a framework, not yet used; hatched so they never look like a framework's colour
function hatch(svg, ctx) {
  const defs = sv("defs", {}, svg);
  const p = sv("pattern", { id: `jm-hatch-${ctx.uid}`, width: 5, height: 5, patternUnits: "userSpaceOnUse", patternTransform: "rotate(45)" }, defs);
  sv("rect", { width: 5, height: 5, fill: "#dfe3e8" }, p);
  sv("line", { x1: 1, y1: 0, x2: 1, y2: 5, stroke: OFFERED, "stroke-width": 2.2 }, p);
  return `url(#jm-hatch-${ctx.uid})`;
}

function drawCluster(pane, d, W, H, ctx) {
  const nodes = d.nodes || [];
  if (nodes.length <= 1) return empty(pane, "No agents yet: start a cluster (%mesos start) or add one (%mesos add-agent).");
  const svg = sv("svg", { width: W, height: H, class: "jm-svg jm-cluster" }, pane);
  hatch(svg, ctx);
  const cardW = 176, cardH = 60;
  const agents = nodes.filter((n) => n.kind === "agent");
  const left = 80, right = W - cardW / 2 - 12, top = 40, bottom = H - 40;
  const pos = {};
  for (const n of nodes) {
    pos[n.id] = { x: left + n.x * (right - left), y: top + n.y * (bottom - top) };
  }
  // edges first, so nodes sit on top
  const gEdges = sv("g", {}, svg);
  for (const n of nodes) {
    if (n.kind === "agent" || n.kind === "framework") {
      const a = pos.master, b = pos[n.id];
      sv("line", { x1: a.x, y1: a.y, x2: b.x, y2: b.y, class: n.kind === "agent" && !n.alive ? `jm-edge ${goneClass(n)}` : "jm-edge" }, gEdges);
    }
  }
  const color = {};
  for (const n of nodes) if (n.kind === "framework") color[n.id] = n.color;
  for (const e of d.edges || []) {
    const a = pos[e.s], b = pos[e.t];
    if (!a || !b) continue;
    const bx = b.x - cardW / 2;
    const mx = (a.x + bx) / 2;
    const bend = e.kind === "offer" ? -30 : 30;
    const path = `M${a.x + 18},${a.y} C${mx},${a.y + bend} ${mx},${b.y + bend} ${bx},${b.y}`;
    if (e.kind === "tasks") {
      const p = sv("path", { d: path, class: "jm-task-edge", stroke: color[e.s] || "#888", "stroke-width": 1 + Math.min(5, e.n || 1) }, gEdges);
      p.dataset.tip = `${e.s} runs ${e.n} task${e.n === 1 ? "" : "s"} on ${e.t}`;
    } else {
      const p = sv("path", { d: path, class: "jm-offer-edge" }, gEdges);
      p.dataset.tip = `offer of ${e.t} outstanding at ${e.s}`;
    }
  }
  // master
  const m = pos.master;
  const gm = sv("g", { class: "jm-master", transform: `translate(${m.x},${m.y})` }, svg);
  sv("rect", { x: -38, y: -18, width: 76, height: 36, rx: 8 }, gm);
  sv("text", { y: 5, "text-anchor": "middle" }, gm, "master");
  gm.dataset.tip = "the master: decides how many resources to offer each framework (the allocator's policy)";
  // frameworks
  for (const n of nodes.filter((n) => n.kind === "framework")) {
    const p = pos[n.id];
    const g = sv("g", { class: "jm-framework", transform: `translate(${p.x},${p.y})`, "data-fw": n.id }, svg);
    sv("circle", { r: 18, fill: n.color, class: n.connected ? "" : "disconnected" }, g);
    sv("text", { y: 4, "text-anchor": "middle", class: "jm-fw-share" }, g, pct(n.held));
    sv("text", { y: 32, "text-anchor": "middle", class: "jm-label" }, g, n.label);
    sv("text", { y: 45, "text-anchor": "middle", class: "jm-sub" }, g,
      `${n.running} running${n.offers ? ` · ${n.offers} offer${n.offers === 1 ? "" : "s"}` : ""}${n.suppressed ? " · suppressed" : ""}`);
    g.dataset.tip = `framework ${n.label} (${n.id})\ndominant share ${shareText(n)}\n${n.running} tasks running\n${n.offers} offers outstanding` +
      (n.connected ? "" : "\ndisconnected");
  }
  // agents: a card with one bar per resource (used by framework | offered | free)
  for (const n of agents) {
    const p = pos[n.id];
    const g = sv("g", {
      class: `jm-agent${n.alive ? "" : " " + goneClass(n)}${n.connected ? "" : " disconnected"}`,
      transform: `translate(${p.x - cardW / 2},${p.y - cardH / 2})`,
      "data-agent": n.id,
    }, svg);
    sv("rect", { width: cardW, height: cardH, rx: 6, class: "jm-card" }, g);
    sv("text", { x: 8, y: 15, class: "jm-label" }, g, n.label);
    sv("text", { x: cardW - 8, y: 15, "text-anchor": "end", class: n.alive || n.left ? "jm-sub" : "jm-dead-label" }, g,
      n.alive ? `${n.tasks} task${n.tasks === 1 ? "" : "s"}${n.connected ? "" : " · disconnected"}`
        : n.back_as ? `✕ back as ${n.back_as}` : n.left ? "shut down" : "✕ dead");
    let y = 23;
    const barX = 40, barW = cardW - 48;
    const tipLines = [`agent ${n.id}${n.hostname ? ` on ${n.hostname}` : ""}${n.alive ? "" : (n.left ? " — shut down: " : " — DEAD: ") + n.reason}`];
    if (n.previous_id) tipLines.push(`was ${n.previous_id}: removed, then registered again under this id`);
    if (n.back_as) tipLines.push(`registered again as ${n.back_as}`);
    for (const b of n.bars || []) {
      sv("text", { x: 8, y: y + 8, class: "jm-sub" }, g, b.name);
      sv("rect", { x: barX, y, width: barW, height: 10, class: "jm-bar-bg" }, g);
      let x = barX;
      const scale = b.total > 0 ? barW / b.total : 0;
      for (const s of b.segments || []) {
        const w = s.value * scale;
        sv("rect", { x, y, width: Math.max(0, w), height: 10, fill: n.alive ? s.color : "#c9c9c9", class: "jm-bar-used", "data-fw": s.fw }, g);
        x += w;
      }
      if (b.offered > 0) {
        sv("rect", { x, y, width: Math.max(0, b.offered * scale), height: 10, class: "jm-bar-offered", fill: `url(#jm-hatch-${ctx.uid})` }, g);
      }
      tipLines.push(`${b.name}: ${fmt(b.used, b.unit)} used, ${fmt(b.offered, b.unit)} offered, ${fmt(b.free, b.unit)} free of ${fmt(b.total, b.unit)}`);
      y += 15;
    }
    if (n.offers) tipLines.push(`${n.offers} offer(s) outstanding`);
    const attrs = Object.entries(n.attributes || {}).map(([k, v]) => `${k}=${v}`).join(", ");
    if (attrs) tipLines.push(attrs);
    g.dataset.tip = tipLines.join("\n");
  }
  // legend
  const lg = sv("g", { class: "jm-legend", transform: `translate(10,${H - 12})` }, svg);
  let lx = 0;
  const item = (fill, label, cls) => {
    sv("rect", { x: lx, y: -9, width: 12, height: 10, fill, class: cls || "" }, lg);
    const t = sv("text", { x: lx + 16, y: 0 }, lg, label);
    lx += 22 + label.length * 6.2;
    return t;
  };
  for (const n of nodes.filter((n) => n.kind === "framework")) item(n.color, `used by ${n.label}`);
  item(`url(#jm-hatch-${ctx.uid})`, "offered (not yet accepted)");
  item("#e6e8eb", "free", "jm-bar-bg");
  item("#fdecea", "dead agent", "jm-dead-swatch");
  if (agents.some((n) => n.left)) item("#f4f5f7", "shut down", "jm-left-swatch");
  if (d.hidden_agents) sv("text", { x: W - 20, y: 14, "text-anchor": "end", class: "jm-sub" }, svg, `+${d.hidden_agents} agents not shown`);
}

// ------------------------------------------------------------------ 2. offers timeline
function drawOffers(pane, d, W, H) {
  const rows = d.rows || [];
  const marks = d.marks || [];
  if (!rows.length) return empty(pane, "No frameworks yet: register one with %mesos run or cluster.run_async(scheduler).");
  const svg = sv("svg", { width: W, height: H, class: "jm-svg jm-offers" }, pane);
  const left = 130, right = W - 16, top = 10, bottom = H - 66;
  const t0 = d.t0, t1 = Math.max(d.t1, d.t0 + 1);
  const x = (t) => left + ((t - t0) / (t1 - t0)) * (right - left);
  const rowH = Math.min(90, (bottom - top) / rows.length);
  const agents = [...new Set(marks.map((m) => m.agent))].sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
  const lanes = Math.max(1, Math.min(agents.length, Math.floor((rowH - 8) / 3)));  // a lane is at least 3px tall
  const laneOf = {};
  agents.forEach((a, i) => (laneOf[a] = i % lanes));
  const laneH = (rowH - 8) / lanes;
  const rowIndex = {};
  rows.forEach((r, i) => {
    rowIndex[r.id] = i;
    const y = top + i * rowH;
    sv("rect", { x: left, y, width: right - left, height: rowH - 2, class: i % 2 ? "jm-row odd" : "jm-row" }, svg);
    sv("rect", { x: 8, y: y + rowH / 2 - 11, width: 10, height: 10, fill: r.color }, svg);
    sv("text", { x: 22, y: y + rowH / 2 - 2, class: "jm-label" }, svg, r.name.length > 15 ? r.name.slice(0, 14) + "…" : r.name);
    const c = (d.counts || {})[r.id] || {};
    sv("text", { x: 22, y: y + rowH / 2 + 11, class: "jm-sub" }, svg,
      `${c.accepted || 0}✓ ${c.declined || 0}✗ ${(c.rescinded || 0) + (c.timed_out || 0)}⟲`);
  });
  const colors = d.colors || {};
  for (const m of marks) {
    const i = rowIndex[m.fw];
    if (i === undefined) continue;
    const s = Math.max(m.s, t0);
    const end = m.e === null || m.e === undefined ? t1 : m.e;
    const x0 = x(s), x1 = Math.max(x(end), x0 + 3);
    const y = top + i * rowH + 4 + laneOf[m.agent] * laneH;
    const r = sv("rect", {
      x: x0, y, width: x1 - x0, height: Math.max(2, laneH - 2), rx: 1.5,
      fill: colors[m.o] || "#888", class: `jm-offer jm-offer-${m.o}`, "data-fw": m.fw, "data-outcome": m.o,
    }, svg);
    const when = m.e === null || m.e === undefined ? `outstanding for ${(t1 - m.s).toFixed(2)}s` : `${OUTCOME_LABELS[m.o]} after ${(m.e - m.s).toFixed(3)}s`;
    r.dataset.tip = `offer ${m.id} of ${m.agent} to ${m.fw}\n${m.res}\nsent at ${m.s.toFixed(2)}s, ${when}` +
      (m.note ? `\n${m.note}` : "") + (m.why ? `\nallocator: ${m.why}` : "");
  }
  timeAxis(svg, x, t0, t1, top + rows.length * rowH + 2, left, right);
  const lg = sv("g", { class: "jm-legend", transform: `translate(${left},${H - 8})` }, svg);
  let lx = 0;
  for (const o of ["accepted", "declined", "rescinded", "timed_out", "pending"]) {
    sv("rect", { x: lx, y: -9, width: 12, height: 10, fill: colors[o] }, lg);
    sv("text", { x: lx + 16, y: 0 }, lg, OUTCOME_LABELS[o]);
    lx += 30 + OUTCOME_LABELS[o].length * 6.2;
  }
  sv("text", { x: 0, y: -20, class: "jm-sub" }, lg,
    `each mark: one offer, from sent to answer · ${lanes >= agents.length ? "one lane per agent" : `${agents.length} agents share ${lanes} lanes`}` +
    ` · hover for the resources and the allocator's reason` +
    `${d.omitted ? ` · ${d.omitted} older offers not drawn` : ""}`);
}

// ------------------------------------------------------------------ 3. allocation over time
function lineChart(svg, series, box, yMax, yFmt, title, state) {
  const { left, right, top, bottom, t0, t1 } = box;
  const x = (t) => left + ((t - t0) / Math.max(1e-9, t1 - t0)) * (right - left);
  const y = (v) => bottom - (v / yMax) * (bottom - top);
  sv("text", { x: left, y: top - 8, class: "jm-label" }, svg, title);
  for (const g of [0, 0.25, 0.5, 0.75, 1]) {
    sv("line", { x1: left, x2: right, y1: y(g * yMax), y2: y(g * yMax), class: "jm-grid" }, svg);
    sv("text", { x: left - 6, y: y(g * yMax) + 4, "text-anchor": "end", class: "jm-tick" }, svg, yFmt(g * yMax));
  }
  for (const s of series) {
    if (!s.points.length) continue;
    let d = "";
    let prev = null;
    for (const [t, v] of s.points) {
      if (prev === null) d += `M${x(t)},${y(v)}`;
      else d += `H${x(t)}V${y(v)}`; // a step: the value holds until the next sample
      prev = v;
    }
    const ended = s.end !== undefined && s.end !== null;  // a framework that left: its line stops there
    d += `H${x(ended ? Math.max(s.end, s.points[s.points.length - 1][0]) : t1)}`;
    sv("path", { d, stroke: s.color, class: `jm-line${s.dash ? " dashed" : ""}${s.faint ? " faint" : ""}`, "data-series": s.id }, svg);
    if (s.faint || ended) continue;
    const last = s.points[s.points.length - 1];
    sv("circle", { cx: x(t1), cy: y(last[1]), r: 3, fill: s.color }, svg);
  }
  timeAxis(svg, x, t0, t1, bottom, left, right);
  state.charts.push({ left, right, top, bottom, x, t0, t1, series, yFmt });
}

function drawAllocation(pane, d, W, H, ctx) {
  const fws = d.frameworks || [];
  const util = d.util || {};
  if (!fws.length && !(util.cpus || []).length) return empty(pane, "Nothing allocated yet: shares appear once a framework is offered resources.");
  const svg = sv("svg", { width: W, height: H, class: "jm-svg jm-allocation" }, pane);
  const t0 = d.t0, t1 = Math.max(d.t1, d.t0 + 1);
  const left = 52, right = W - 150;
  const mid = Math.floor(H / 2);
  const charts = { charts: [] };
  // faint and dashed: the share as the allocator counts it, with the offers not answered yet; drawn
  // first, under what the framework's tasks hold (a framework offered a whole agent is at 100% until it answers)
  const withOffers = fws.filter((f) => f.with_offers.length)
    .map((f) => ({ id: `${f.id}-offers`, name: `${f.name} with offers`, color: f.color, points: f.with_offers, end: f.end, dash: true, faint: true }));
  lineChart(svg, [...withOffers, ...fws.map((f) => ({ id: f.id, name: f.name, color: f.color, points: f.points, end: f.end }))],
    { left, right, top: 24, bottom: mid - 24, t0, t1 }, 1, pct, "Dominant share per framework (DRF equalises these)", charts);
  lineChart(svg, [
    { id: "cpus", name: "cpus", color: "#3b4b5c", points: util.cpus || [] },
    { id: "mem", name: "mem", color: "#8fa3b8", points: util.mem || [], dash: true },
  ], { left, right, top: mid + 20, bottom: H - 24, t0, t1 }, 1, pct, "Cluster utilisation", charts);
  // a framework that came and went within a few pixels (a few tasks in 50 ms) has no visible line: a marker
  // at its peak share says it was there, with the numbers on hover
  const ax = (t) => left + ((t - t0) / Math.max(1e-9, t1 - t0)) * (right - left);
  const ay = (v) => (mid - 24) - v * (mid - 48);
  const peak = (pts) => pts.reduce((m, p) => Math.max(m, p[1]), 0);
  for (const f of fws) {
    if (!f.points.length || f.end === null || f.end === undefined) continue;
    const from = f.points[0][0];
    if (ax(f.end) - ax(from) >= 4) continue;
    const top = Math.max(peak(f.points), peak(f.with_offers || []));
    const m = sv("circle", { cx: ax(from), cy: ay(top), r: 4, stroke: f.color, class: "jm-brief", "data-fw": f.id }, svg);
    m.dataset.tip = `${f.name}: here for only ${((f.end - from) * 1000).toFixed(0)} ms (${from.toFixed(2)}s to ${f.end.toFixed(2)}s)\n` +
      `dominant share of its tasks ${pct(peak(f.points))}, ${pct(peak(f.with_offers || []))} with its offers`;
  }
  // legends at the right: frameworks still here, then those that left (their lines stop where they left)
  const legend = (items, y0) => {
    items.forEach((s, i) => {
      if (s.more) return sv("text", { x: right + 36, y: y0 + i * 18 + 4, class: "jm-sub" }, svg, s.name);
      const last = s.points.length ? s.points[s.points.length - 1][1] : 0;
      sv("line", { x1: right + 14, x2: right + 30, y1: y0 + i * 18, y2: y0 + i * 18, stroke: s.color, class: `jm-line${s.dash ? " dashed" : ""}` }, svg);
      const t = sv("text", { x: right + 36, y: y0 + i * 18 + 4, class: s.gone ? "jm-sub" : "jm-label" }, svg,
        `${s.name.length > 12 ? s.name.slice(0, 11) + "…" : s.name} ${s.gone ? "(left)" : pct(last)}`);
      if (s.gone) t.dataset.tip = `${s.name} left at ${(+s.end).toFixed(2)}s`;
    });
  };
  const fit = Math.max(1, Math.floor((mid - 24 - 34 - (withOffers.length ? 22 : 0)) / 18));
  const ordered = [...fws.filter((f) => f.active !== false), ...fws.filter((f) => f.active === false).reverse()];
  const listed = ordered.length > fit ? ordered.slice(0, fit - 1) : ordered;
  const shown = listed.map((f) => ({ name: f.name, color: f.color, points: f.points, gone: f.active === false, end: f.end }));
  if (listed.length < ordered.length) shown.push({ name: `+${ordered.length - listed.length} more`, more: true });
  legend(shown, 34);
  if (withOffers.length) {
    const y0 = 34 + shown.length * 18 + 4;
    sv("line", { x1: right + 14, x2: right + 30, y1: y0, y2: y0, stroke: "#6b7a8c", class: "jm-line dashed faint" }, svg);
    sv("text", { x: right + 36, y: y0 + 4, class: "jm-sub" }, svg, "with offers out");
  }
  legend([{ name: "cpus", color: "#3b4b5c", points: util.cpus || [] }, { name: "mem", color: "#8fa3b8", points: util.mem || [], dash: true }], mid + 30);
  // hover: a cursor line and the values at that time
  const cursor = sv("line", { class: "jm-cursor", y1: 24, y2: H - 24, x1: -10, x2: -10 }, svg);
  svg.addEventListener("mousemove", (ev) => {
    const r = svg.getBoundingClientRect();
    const px = ev.clientX - r.left;
    const chart = charts.charts.find((c) => px >= c.left && px <= c.right);
    if (!chart) { cursor.setAttribute("x1", -10); cursor.setAttribute("x2", -10); ctx.hideTip(); return; }
    const t = chart.t0 + ((px - chart.left) / (chart.right - chart.left)) * (chart.t1 - chart.t0);
    cursor.setAttribute("x1", px); cursor.setAttribute("x2", px);
    const lines = [`t = ${t.toFixed(2)}s`];
    for (const c of charts.charts) {
      for (const s of c.series) {
        if (s.end !== undefined && s.end !== null && t > s.end) continue;
        let v = null;
        for (const [pt, pv] of s.points) { if (pt <= t) v = pv; else break; }
        if (v !== null) lines.push(`${s.name}: ${c.yFmt(v)}`);
      }
    }
    ctx.showTip(lines.join("\n"), ev);
  });
  svg.addEventListener("mouseleave", () => ctx.hideTip());
}

// ------------------------------------------------------------------ 4. tasks Gantt
function drawTasks(pane, d, W, H) {
  const agents = d.agents || [];
  const tasks = d.tasks || [];
  if (!tasks.length) return empty(pane, "No tasks yet: a framework launches tasks by accepting offers.");
  const color = {};
  for (const f of d.frameworks || []) color[f.id] = f.color;
  const left = 100, right = W - 16, top = 10;
  const totalLanes = agents.reduce((s, a) => s + a.lanes, 0);
  const laneH = Math.max(4, Math.min(18, (H - 70) / Math.max(1, totalLanes)));
  const height = Math.max(H, top + totalLanes * laneH + agents.length * 4 + 60);
  const svg = sv("svg", { width: W, height, class: "jm-svg jm-tasks" }, pane);
  const t0 = d.t0, t1 = Math.max(d.t1, d.t0 + 1);
  const x = (t) => left + ((Math.max(t, t0) - t0) / (t1 - t0)) * (right - left);
  let y = top;
  const rowY = {};
  agents.forEach((a, i) => {
    const h = a.lanes * laneH + 2;
    rowY[a.id] = y;
    sv("rect", { x: left, y, width: right - left, height: h, class: a.alive ? (i % 2 ? "jm-row odd" : "jm-row") : `jm-row ${goneClass(a)}` }, svg);
    const label = sv("text", { x: left - 8, y: y + Math.min(h, 24) / 2 + 4, "text-anchor": "end", class: a.alive ? "jm-label" : a.left ? "jm-sub" : "jm-dead-label" }, svg,
      (a.alive || a.left ? "" : "✕ ") + (a.label.length > 12 ? a.label.slice(0, 11) + "…" : a.label));
    label.dataset.tip = `${a.id}${a.alive ? "" : a.left ? " (shut down)" : " (dead)"}`;
    y += h + 4;
  });
  for (const t of tasks) {
    if (rowY[t.agent] === undefined) continue;
    const running = t.e === null || t.e === undefined;
    const end = running ? t1 : t.e;
    const x0 = x(t.s), x1 = Math.max(x(end), x0 + 2);
    const ty = rowY[t.agent] + 1 + t.lane * laneH;
    const h = Math.max(2, laneH - 2);
    const bad = !running && t.st !== "TASK_FINISHED";
    const g = sv("g", { class: `jm-task${running ? " running" : ""}${bad ? " bad" : ""}`, "data-state": t.st, "data-fw": t.fw }, svg);
    if (t.r !== null && t.r !== undefined && t.r > t.s) {
      // staging: from launch until the agent reported TASK_RUNNING
      sv("rect", { x: x0, y: ty, width: Math.max(0, Math.min(x(t.r), x1) - x0), height: h, fill: color[t.fw] || "#888", class: "jm-staging" }, g);
      sv("rect", { x: Math.min(x(t.r), x1), y: ty, width: Math.max(1, x1 - Math.min(x(t.r), x1)), height: h, fill: color[t.fw] || "#888", class: "jm-task-bar" }, g);
    } else {
      sv("rect", { x: x0, y: ty, width: x1 - x0, height: h, fill: color[t.fw] || "#888", class: "jm-task-bar" }, g);
    }
    if (bad) {
      sv("rect", { x: x0, y: ty, width: x1 - x0, height: h, class: "jm-task-bad" }, g);
      if (x1 - x0 > 8 && h >= 6) sv("text", { x: x1 - 2, y: ty + h - 1, "text-anchor": "end", class: "jm-task-x" }, g, "✕");
    }
    const dur = (end - t.s).toFixed(2);
    g.dataset.tip = `${t.name} (${t.fw})\n${t.st.replace("TASK_", "")} on ${t.agent} · ${t.res}\nlaunched ${t.s.toFixed(2)}s, ${running ? "running for" : "took"} ${dur}s` +
      (t.why ? `\n${t.why}` : "");
  }
  timeAxis(svg, x, t0, t1, y + 2, left, right);
  const lg = sv("g", { class: "jm-legend", transform: `translate(${left},${y + 40})` }, svg);
  let lx = 0;
  for (const f of d.frameworks || []) {
    sv("rect", { x: lx, y: -9, width: 12, height: 10, fill: f.color }, lg);
    sv("text", { x: lx + 16, y: 0 }, lg, f.name);
    lx += 30 + f.name.length * 6.2;
  }
  sv("rect", { x: lx, y: -9, width: 12, height: 10, class: "jm-task-bad", fill: "#ccc" }, lg);
  sv("text", { x: lx + 16, y: 0 }, lg, "failed / lost / killed");
  lx += 150;
  sv("rect", { x: lx, y: -9, width: 12, height: 10, fill: "#999", class: "jm-staging" }, lg);
  sv("text", { x: lx + 16, y: 0 }, lg, "staging");
  lx += 70;
  sv("text", { x: lx, y: 0, class: "jm-sub" }, lg, d.omitted ? `${d.omitted} older tasks not drawn` : "");
}

// ------------------------------------------------------------------ 5. locality
function drawLocality(pane, d, W, H) {
  const rows = d.frameworks || [];
  if (!rows.length) {
    return empty(pane,
      "No task has said where its data is yet. Give tasks TaskInfo(locality=[agent_id, ...]) and this view shows, " +
      "per framework, how often they ran where their data was (with delay scheduling the paper reports ~95%).");
  }
  const svg = sv("svg", { width: W, height: Math.max(H, rows.length * 40 + 70), class: "jm-svg jm-locality" }, pane);
  const left = 150, right = W - 150;
  sv("text", { x: 10, y: 20, class: "jm-label" }, svg, "Share of tasks that ran on an agent holding their data");
  rows.forEach((r, i) => {
    const y = 40 + i * 40;
    const total = r.local + r.remote;
    const wl = total ? ((right - left) * r.local) / total : 0;
    sv("rect", { x: 10, y: y + 4, width: 10, height: 10, fill: r.color }, svg);
    sv("text", { x: 26, y: y + 13, class: "jm-label" }, svg, r.name.length > 16 ? r.name.slice(0, 15) + "…" : r.name);
    const g = sv("g", { class: "jm-locality-row", "data-fw": r.id }, svg);
    sv("rect", { x: left, y, width: right - left, height: 18, class: "jm-bar-bg" }, g);
    sv("rect", { x: left, y, width: wl, height: 18, fill: r.color, class: "jm-local" }, g);
    sv("text", { x: right + 10, y: y + 13, class: "jm-label" }, svg, `${r.pct}% local`);
    sv("text", { x: right + 80, y: y + 13, class: "jm-sub" }, svg, `${r.local} of ${total}`);
    g.dataset.tip = `${r.name}: ${r.local} tasks ran where their data was, ${r.remote} elsewhere`;
  });
  if ((d.without || []).length) {
    sv("text", { x: 10, y: 40 + rows.length * 40 + 10, class: "jm-sub" }, svg, `no data locations given by: ${d.without.join(", ")}`);
  }
}

// ------------------------------------------------------------------ 6. message trace
const MSG_COLORS = {
  ResourceOffers: "#2e9d52", Accept: "#4e79a7", Decline: "#e08a00", RescindOffer: "#8e6cc9", RunTasks: "#4e79a7",
  StatusUpdate: "#555", RegisterFramework: "#555", FrameworkRegistered: "#555", AgentLost: BAD, FrameworkError: BAD,
};

function drawTrace(pane, d, W, H, ctx) {
  const actors = d.actors || [];
  const msgs = d.messages || [];
  const bar = el("div", { class: "jm-trace-bar" }, pane);
  const lab = el("label", {}, bar);
  const box = el("input", { type: "checkbox" }, lab);
  box.checked = !!ctx.model.get("heartbeats");
  box.addEventListener("change", () => { ctx.model.set("heartbeats", box.checked); ctx.model.save_changes(); });
  lab.appendChild(document.createTextNode(" show heartbeats (Ping/Pong, acks)"));
  el("span", { class: "jm-sub" }, bar,
    `  last ${msgs.length} messages, oldest at the top${d.hidden ? ` · ${d.hidden} heartbeats hidden` : ""}`);
  if (!msgs.length) return empty(pane, "No protocol messages yet.");
  const left = 56, right = W - 20, rowH = 22;
  const colX = {};
  const step = (right - left) / Math.max(1, actors.length);
  actors.forEach((a, i) => (colX[a.id] = left + step * (i + 0.5)));
  // the actors stay on top while the messages scroll under them
  const headSvg = sv("svg", { width: W, height: 34, class: "jm-svg jm-trace-head" }, pane);
  const scroller = el("div", { class: "jm-trace-scroll", style: `height:${H - 62}px` }, pane);
  const height = Math.max(H - 64, msgs.length * rowH + 14);
  const svg = sv("svg", { width: W, height, class: "jm-svg jm-trace" }, scroller);
  for (const a of actors) {
    const cx = colX[a.id];
    sv("line", { x1: cx, x2: cx, y1: 0, y2: height, class: "jm-lifeline" }, svg);
    sv("line", { x1: cx, x2: cx, y1: 28, y2: 34, class: "jm-lifeline" }, headSvg);
    const g = sv("g", { class: `jm-actor jm-actor-${a.kind}${a.alive === false ? " " + goneClass(a) : ""}`, transform: `translate(${cx},${15})`, "data-actor": a.id }, headSvg);
    const w = Math.min(step - 6, 110);
    sv("rect", { x: -w / 2, y: -12, width: w, height: 24, rx: 5, style: a.color ? `fill:${a.color}` : null }, g);
    const name = a.label.length > w / 7 ? a.label.slice(0, Math.max(3, Math.floor(w / 7) - 1)) + "…" : a.label;
    sv("text", { y: 4, "text-anchor": "middle" }, g, name);
    g.dataset.tip = `${a.kind} ${a.id}`;
  }
  const defs = sv("defs", {}, svg);
  const colors = new Set(msgs.map((m) => MSG_COLORS[m.type] || "#777"));
  const markerId = (c) => `jm-arrow-${ctx.uid}-${c.slice(1)}`;
  for (const c of colors) {
    const mk = sv("marker", { id: markerId(c), viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 6, markerHeight: 6, orient: "auto-start-reverse" }, defs);
    sv("path", { d: "M0,0L10,5L0,10z", fill: c }, mk);
  }
  msgs.forEach((m, i) => {
    const y = i * rowH + 16;
    const x1 = colX[m.src], x2 = colX[m.dst];
    const c = MSG_COLORS[m.type] || "#777";
    sv("text", { x: 4, y: y + 4, class: "jm-tick" }, svg, `${m.t.toFixed(2)}s`);
    const g = sv("g", { class: "jm-msg", "data-type": m.type }, svg);
    sv("line", { x1, x2: x2 + (x2 > x1 ? -1 : 1), y1: y, y2: y, stroke: c, "marker-end": `url(#${markerId(c)})`, class: "jm-msg-line" }, g);
    const label = sv("text", { x: (x1 + x2) / 2, y: y - 4, "text-anchor": "middle", class: "jm-msg-label" }, g);
    sv("tspan", { "font-weight": 600, fill: c }, label, m.type);
    sv("tspan", {}, label, ` ${m.label || ""}`);
    g.dataset.tip = `${m.t.toFixed(3)}s  ${m.src} → ${m.dst}\n${m.type} ${m.label || ""}`;
  });
  requestAnimationFrame(() => { scroller.scrollTop = scroller.scrollHeight; });
}

function esc(s) {
  return String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
}

const DRAW = { cluster: drawCluster, offers: drawOffers, allocation: drawAllocation, tasks: drawTasks, locality: drawLocality, trace: drawTrace };

// ------------------------------------------------------------------ header and shell
function drawHeader(box, h) {
  box.replaceChildren();
  if (!h || !h.title) return;
  const line = el("div", { class: "jm-head-line" }, box);
  el("span", { class: "jm-title" }, line, h.title);
  const st = h.status || "live";
  el("span", { class: `jm-status ${st}` }, line, st === "live" ? "● live" : st === "replay" ? "● replay" : "■ stopped");
  if (h.info) el("span", { class: "jm-info" }, line, h.info);
  const utilBox = el("span", { class: "jm-utils" }, line);
  for (const [k, v] of Object.entries(h.utilization || {})) {
    const u = el("span", { class: "jm-util", title: `${k} in use across the cluster` }, utilBox);
    u.appendChild(document.createTextNode(`${k} `));
    const b = el("span", { class: "jm-util-bar" }, u);
    el("span", { style: `width:${Math.round(100 * v)}%` }, b);
    u.appendChild(document.createTextNode(` ${pct(v)}`));
  }
  const stats = el("div", { class: "jm-stats" }, box);
  const stat = (label, value, cls) => {
    const s = el("span", { class: `jm-stat ${cls || ""}` }, stats);
    el("b", {}, s, String(value));
    s.appendChild(document.createTextNode(` ${label}`));
  };
  stat("s", (h.time || 0).toFixed(1));
  stat(h.agents === 1 ? "agent" : "agents", h.agents);
  if (h.dead_agents) stat("dead", h.dead_agents, "bad");
  if (h.left_agents) stat("shut down", h.left_agents);
  stat(h.frameworks.length === 1 ? "framework" : "frameworks", h.frameworks.length);
  if (h.left_frameworks) stat("left", h.left_frameworks);
  stat("running", h.running);
  stat("finished", h.finished);
  if (h.failed) stat("failed/lost", h.failed, "bad");
  stat(h.offers === 1 ? "open offer" : "open offers", h.offers);
  const fws = el("div", { class: "jm-fws" }, box);
  for (const f of h.frameworks || []) {
    const s = el("span", { class: "jm-fw", "data-fw": f.id }, fws);
    el("span", { class: "jm-swatch", style: `background:${f.color}` }, s);
    s.appendChild(document.createTextNode(`${f.name} · share ${shareText(f)} · ${f.running} running`));
  }
}

let UID = 0;

function render({ model, el: host }) {
  const uid = ++UID;
  const root = el("div", { class: "jm-root" }, host);
  const head = el("div", { class: "jm-header" }, root);
  const tabs = el("div", { class: "jm-tabs", role: "tablist" }, root);
  const body = el("div", { class: "jm-body" }, root);
  const replayBar = el("div", { class: "jm-replay" }, root);
  const tip = el("div", { class: "jm-tip" }, root);
  const panes = {};
  const stale = new Set();
  const ctx = {
    model, uid,
    showTip(text, ev) {
      tip.textContent = text;
      tip.style.display = "block";
      const r = root.getBoundingClientRect();
      let x = ev.clientX - r.left + 14, y = ev.clientY - r.top + 14;
      if (x + tip.offsetWidth > r.width - 4) x = Math.max(4, ev.clientX - r.left - tip.offsetWidth - 14);
      tip.style.left = `${x}px`;
      tip.style.top = `${y}px`;
    },
    hideTip() { tip.style.display = "none"; },
  };
  root.addEventListener("mousemove", (ev) => {
    const t = ev.target.closest ? ev.target.closest("[data-tip]") : null;
    if (t && root.contains(t)) ctx.showTip(t.dataset.tip, ev);
    else if (!ev.target.closest(".jm-allocation")) ctx.hideTip();
  });
  root.addEventListener("mouseleave", () => ctx.hideTip());

  const views = () => model.get("views") || [];
  const selected = () => {
    const v = views();
    const s = model.get("selected");
    return v.includes(s) ? s : v[0];
  };
  function width() {
    return Math.max(520, Math.floor(body.clientWidth || host.clientWidth || 900));
  }
  function draw(name) {
    const pane = panes[name];
    if (!pane) return;
    const data = model.get(name) || {};
    pane.replaceChildren();
    stale.delete(name);
    const H = model.get("height") || 400;
    try {
      if (!Object.keys(data).length) return empty(pane, "Waiting for the cluster…");
      DRAW[name](pane, data, width(), H, ctx);
    } catch (err) {
      empty(pane, `could not draw ${name}: ${err}`);
      console.error("jmesos", name, err);
    }
  }
  function layout() {
    tabs.replaceChildren();
    body.replaceChildren();
    const v = views();
    tabs.style.display = v.length > 1 ? "" : "none";
    for (const name of v) {
      const b = el("button", { class: "jm-tab", role: "tab", "data-view": name }, tabs, TITLES[name] || name);
      b.addEventListener("click", () => {
        model.set("selected", name);
        model.save_changes();
        showSelected();
      });
      panes[name] = el("div", { class: "jm-pane", "data-view": name, style: `height:${model.get("height") || 400}px` }, body);
      stale.add(name);
    }
    showSelected();
  }
  function showSelected() {
    const s = selected();
    for (const b of tabs.children) b.setAttribute("aria-selected", b.dataset.view === s ? "true" : "false");
    for (const [name, pane] of Object.entries(panes)) pane.style.display = name === s ? "" : "none";
    if (stale.has(s)) draw(s);
  }
  function drawReplay() {
    replayBar.replaceChildren();
    const r = model.get("replay") || {};
    if (r.t1 === undefined) { replayBar.style.display = "none"; return; }
    replayBar.style.display = "";
    const play = el("button", { class: "jm-play", title: "play / pause" }, replayBar, "▶");
    const slider = el("input", { type: "range", min: r.t0, max: r.t1, step: Math.max(0.01, (r.t1 - r.t0) / 1000), class: "jm-slider" }, replayBar);
    slider.value = model.get("time");
    const label = el("span", { class: "jm-time" }, replayBar, `${(+model.get("time")).toFixed(2)}s / ${(+r.t1).toFixed(2)}s`);
    const speed = el("select", { class: "jm-speed", title: "playback speed" }, replayBar);
    for (const s of [1, 4, 16]) el("option", { value: s }, speed, `${s}×`);
    let last = 0, pending = null, timer = null;
    const send = (v) => {
      // at most ~10 slider messages a second to the kernel
      const now = performance.now();
      if (now - last >= 100) { last = now; model.set("time", +v); model.save_changes(); }
      else { clearTimeout(pending); pending = setTimeout(() => send(v), 100 - (now - last)); }
    };
    slider.addEventListener("input", () => {
      label.textContent = `${(+slider.value).toFixed(2)}s / ${(+r.t1).toFixed(2)}s`;
      send(slider.value);
    });
    play.addEventListener("click", () => {
      if (timer) { clearInterval(timer); timer = null; play.textContent = "▶"; return; }
      if (+slider.value >= r.t1) slider.value = r.t0;
      play.textContent = "❚❚";
      timer = setInterval(() => {
        const v = Math.min(r.t1, +slider.value + 0.1 * +speed.value);
        slider.value = v;
        label.textContent = `${v.toFixed(2)}s / ${(+r.t1).toFixed(2)}s`;
        send(v);
        if (v >= r.t1) { clearInterval(timer); timer = null; play.textContent = "▶"; }
      }, 100);
    });
    ctx.stopReplay = () => timer && clearInterval(timer);
  }

  drawHeader(head, model.get("header"));
  layout();
  drawReplay();
  const onHeader = () => drawHeader(head, model.get("header"));
  model.on("change:header", onHeader);
  const handlers = [];
  for (const name of Object.keys(DRAW)) {
    const h = () => (name === selected() ? draw(name) : stale.add(name));
    model.on(`change:${name}`, h);
    handlers.push([`change:${name}`, h]);
  }
  const onViews = () => layout();
  const onSelected = () => showSelected();
  const onReplay = () => drawReplay();
  model.on("change:views", onViews);
  model.on("change:selected", onSelected);
  model.on("change:replay", onReplay);
  let resizeTimer = null, lastW = 0;
  const ro = new ResizeObserver(() => {
    const w = width();
    if (Math.abs(w - lastW) < 8) return;
    lastW = w;
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => { for (const n of views()) stale.add(n); draw(selected()); }, 120);
  });
  ro.observe(body);
  return () => {
    ro.disconnect();
    if (ctx.stopReplay) ctx.stopReplay();
    model.off("change:header", onHeader);
    for (const [ev, h] of handlers) model.off(ev, h);
    model.off("change:views", onViews);
    model.off("change:selected", onSelected);
    model.off("change:replay", onReplay);
  };
}

export default { render };
