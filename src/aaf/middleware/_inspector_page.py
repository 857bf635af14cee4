"""The inspector's page: plain HTML and a script, no build step and nothing loaded from elsewhere.

APPSEC: everything shown comes from clients (paths, headers, bodies), so the script only ever
sets ``textContent``, never HTML.
"""

from __future__ import annotations

__all__ = ["PAGE_HTML", "PAGE_SCRIPT"]

PAGE_HTML = b"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>aaf inspector</title>
<style>
body { font: 14px system-ui, sans-serif; margin: 1em; color: #222; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 2px 8px; border-bottom: 1px solid #ddd; }
tbody tr { cursor: pointer; }
tbody tr:hover, tr.selected { background: #eef; }
.open { color: #a60; }
.error { color: #b00; }
#layout { display: grid; grid-template-columns: 1fr 1fr; gap: 1em; }
pre { white-space: pre-wrap; word-break: break-all; background: #f6f6f6; padding: 4px; }
#timeline li { font-family: monospace; margin-bottom: 4px; }
</style>
</head>
<body>
<h1>aaf inspector</h1>
<p id="status">Connecting...</p>
<div id="layout">
<section>
<h2>Connections</h2>
<table id="connections">
<thead><tr><th>#</th><th>type</th><th>method</th><th>path</th><th>route</th><th>handler</th>
<th>status</th><th>ms</th><th>bytes</th></tr></thead>
<tbody></tbody>
</table>
</section>
<section>
<h2>Details</h2>
<div id="detail"><p>Click a connection.</p></div>
<h2>Routes</h2>
<ul id="routes"></ul>
</section>
</div>
<script src="inspector.js"></script>
</body>
</html>
"""

PAGE_SCRIPT = b""""use strict";
const rows = new Map();
const tbody = document.querySelector("#connections tbody");
const MAX_ROWS = 500;

function cell(row, text) {
  const td = document.createElement("td");
  td.textContent = text === null || text === undefined ? "" : String(text);
  row.appendChild(td);
}

function render(summary) {
  let row = rows.get(summary.id);
  const fresh = !row;
  if (fresh) {
    row = document.createElement("tr");
    row.dataset.id = String(summary.id);
    row.addEventListener("click", () => show(summary.id));
    rows.set(summary.id, row);
  }
  row.replaceChildren();
  row.className = (summary.done ? "" : "open") + (summary.error ? " error" : "");
  cell(row, summary.id);
  cell(row, summary.type);
  cell(row, summary.method || (summary.type === "websocket" ? "WS" : ""));
  cell(row, summary.path);
  cell(row, summary.route);
  cell(row, summary.handler);
  cell(row, summary.done ? (summary.status ?? summary.error ?? "") : "...");
  cell(row, summary.duration_ms);
  cell(row, summary.bytes_out);
  if (fresh) {
    tbody.insertBefore(row, tbody.firstChild);
    while (tbody.children.length > MAX_ROWS) {
      const last = tbody.lastChild;
      rows.delete(Number(last.dataset.id));
      last.remove();
    }
  }
}

function pre(value) {
  const block = document.createElement("pre");
  block.textContent = JSON.stringify(value, null, 1);
  return block;
}

async function show(id) {
  for (const row of tbody.querySelectorAll("tr.selected")) row.classList.remove("selected");
  rows.get(id)?.classList.add("selected");
  const detail = document.getElementById("detail");
  const response = await fetch("api/connections/" + id);
  const data = await response.json();
  detail.replaceChildren();
  const title = document.createElement("h3");
  title.id = "detail-title";
  if (!response.ok) {
    title.textContent = data.error;
    detail.appendChild(title);
    return;
  }
  title.textContent = "#" + data.id + " " + (data.method || data.type) + " " + (data.path || "");
  detail.appendChild(title);
  const list = document.createElement("ol");
  list.id = "timeline";
  for (const event of data.timeline) {
    const item = document.createElement("li");
    item.textContent = "+" + event.t_ms + "ms " + event.direction + " " +
      JSON.stringify(event.message);
    list.appendChild(item);
  }
  detail.appendChild(list);
  if (data.dropped_events) detail.appendChild(pre({dropped_events: data.dropped_events}));
  const scopeTitle = document.createElement("h4");
  scopeTitle.textContent = "scope";
  detail.appendChild(scopeTitle);
  detail.appendChild(pre(data.scope));
}

async function loadRoutes() {
  const response = await fetch("api/app");
  const data = await response.json();
  const list = document.getElementById("routes");
  for (const route of data.routes) {
    const item = document.createElement("li");
    item.textContent = route.methods.join(",") + " " + route.rule + " (" + route.name + ")";
    list.appendChild(item);
  }
  for (const mount of data.mounts) {
    const item = document.createElement("li");
    item.textContent = "mount " + mount.prefix + " -> " + mount.app;
    list.appendChild(item);
  }
}

async function start() {
  const status = document.getElementById("status");
  const events = new EventSource("api/events");
  const onChange = (message) => render(JSON.parse(message.data));
  events.addEventListener("started", onChange);
  events.addEventListener("finished", onChange);
  events.addEventListener("error", () => { status.textContent = "Reconnecting..."; });
  events.addEventListener("open", async () => {
    // Listening first, then the list: nothing that happens in between is missed.
    const response = await fetch("api/connections");
    const list = await response.json();
    for (const summary of list.reverse()) render(summary);
    status.textContent = "Live.";
  });
  loadRoutes();
}

start();
"""
