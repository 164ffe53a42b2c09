// The dashboard served at `GET /` of `statusBind`: one self-contained page (inline CSS and JS, no
// CDN, no build step, works offline) that polls `/status` and follows `/events` (server-sent events).

/** The page. Read-only: it only reads `/status` and `/events`. */
export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>arbiter</title>
<style>
:root { color-scheme: light dark; --fg: #1d232a; --dim: #6b7480; --bg: #fbfbfc; --card: #fff; --line: #e3e6ea; --bad: #c62828; --ok: #2e7d32; --warn: #b26a00; }
@media (prefers-color-scheme: dark) { :root { --fg: #e6e8eb; --dim: #99a1ab; --bg: #15181c; --card: #1d2126; --line: #2c3238; } }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.4 system-ui, sans-serif; color: var(--fg); background: var(--bg); }
header { padding: 12px 20px; border-bottom: 1px solid var(--line); display: flex; gap: 24px; flex-wrap: wrap; align-items: baseline; }
header h1 { font-size: 18px; margin: 0; }
header span { color: var(--dim); }
main { padding: 16px 20px; display: grid; gap: 16px; grid-template-columns: repeat(auto-fit, minmax(320px, 1fr)); }
section { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; }
section.wide { grid-column: 1 / -1; }
h2 { font-size: 13px; text-transform: uppercase; letter-spacing: .05em; color: var(--dim); margin: 0 0 8px; }
canvas { width: 100%; height: 120px; display: block; }
table { width: 100%; border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { text-align: right; padding: 3px 8px; border-bottom: 1px solid var(--line); white-space: nowrap; }
th:nth-child(3), td:nth-child(3) { text-align: left; }
.ready { color: var(--ok); } .timed_out, .late { color: var(--bad); font-weight: 600; } .booting, .retiring { color: var(--warn); }
#events { font: 12px/1.5 ui-monospace, monospace; max-height: 420px; overflow: auto; }
#events div { border-bottom: 1px dotted var(--line); padding: 2px 0; }
#events .timeout, #events .reload_failed { color: var(--bad); }
#events pre { margin: 4px 0 4px 16px; white-space: pre-wrap; color: var(--fg); }
.legend { color: var(--dim); font-size: 12px; }
#conn { font-size: 12px; }
</style>
</head>
<body>
<header><h1 id="title">arbiter</h1><span id="summary">connecting…</span><span id="conn"></span></header>
<main>
<section><h2>Requests / s</h2><canvas id="c-req"></canvas></section>
<section><h2 id="h-sat">CPU % per worker</h2><canvas id="c-sat"></canvas></section>
<section><h2>RSS per worker (MB)</h2><canvas id="c-rss"></canvas></section>
<section class="wide"><h2>Workers</h2><table><thead><tr><th>PID</th><th>SLOT</th><th>STATE</th><th>GEN</th><th>AGE</th><th>REQ/S</th><th>IN FLIGHT</th><th>ELU</th><th>RSS</th><th>CPU</th><th>HEARTBEAT</th></tr></thead><tbody id="workers"></tbody></table></section>
<section class="wide"><h2>Events</h2><div id="events"></div></section>
</main>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
const POINTS = 120;
const series = { req: [], sat: new Map(), rss: new Map() };
let last;
const dur = (ms) => ms == null ? "-" : ms < 1000 ? Math.round(ms) + "ms" : ms < 60000 ? Math.floor(ms / 1000) + "s" : ms < 3600000 ? Math.floor(ms / 60000) + "m" + String(Math.floor(ms / 1000) % 60).padStart(2, "0") + "s" : Math.floor(ms / 3600000) + "h" + String(Math.floor(ms / 60000) % 60).padStart(2, "0") + "m";
const mb = (b) => b == null ? "-" : (b / 1048576).toFixed(1) + " MB";
const pct = (v) => v == null ? "-" : (v <= 1 ? v * 100 : v).toFixed(1) + "%";
const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
function push(map, key, v) { if (!map.has(key)) map.set(key, []); const a = map.get(key); a.push(v); if (a.length > POINTS) a.shift(); }
function draw(canvas, lines) {
  const dpr = window.devicePixelRatio || 1, w = canvas.clientWidth, h = canvas.clientHeight;
  canvas.width = w * dpr; canvas.height = h * dpr;
  const g = canvas.getContext("2d"); g.scale(dpr, dpr); g.clearRect(0, 0, w, h);
  let max = 1; for (const l of lines) for (const v of l.values) if (v > max) max = v;
  g.fillStyle = getComputedStyle(document.body).getPropertyValue("--dim"); g.font = "11px sans-serif"; g.fillText(max.toFixed(max < 10 ? 1 : 0), 2, 10);
  lines.forEach((l, i) => {
    g.strokeStyle = "hsl(" + ((i * 67 + 210) % 360) + " 70% 50%)"; g.lineWidth = 1.5; g.beginPath();
    l.values.forEach((v, j) => { const x = w - (l.values.length - 1 - j) * (w / (POINTS - 1)), y = h - 2 - (v / max) * (h - 14); j ? g.lineTo(x, y) : g.moveTo(x, y); });
    g.stroke();
  });
}
async function poll() {
  try {
    const r = await fetch("status", { cache: "no-store" });
    const s = await r.json();
    const now = performance.now();
    const rates = new Map();
    if (last) for (const w of s.workers) { const p = last.s.workers.find((x) => x.pid === w.pid); if (p && w.requests != null && p.requests != null) rates.set(w.pid, Math.max(0, w.requests - p.requests) / ((now - last.at) / 1000)); }
    last = { s, at: now };
    const rate = (w) => w.reqRate ?? rates.get(w.pid) ?? 0;
    const total = s.workers.reduce((a, w) => a + rate(w), 0);
    $("title").textContent = "arbiter · master " + s.pid + (s.name ? " [" + s.name + "]" : "");
    $("summary").textContent = s.binds.join(" ") + " · " + s.workerClass + " · generation " + s.generation + " · " + s.ready + "/" + s.target + " ready · up " + dur(s.uptime) + " · " + s.reloads + " reloads · " + s.restarts + " restarts" + (s.saturation != null ? " · saturation " + pct(s.saturation) : "") + (s.backlog != null ? " · backlog " + s.backlog : "");
    series.req.push(total); if (series.req.length > POINTS) series.req.shift();
    const useElu = s.workers.some((w) => w.elu != null);
    $("h-sat").textContent = useElu ? "Event-loop utilization % per worker" : "CPU % per worker";
    for (const w of s.workers) { push(series.sat, w.pid, useElu ? (w.elu ?? 0) * 100 : w.cpu ?? 0); push(series.rss, w.pid, (w.rss ?? 0) / 1048576); }
    const live = new Set(s.workers.map((w) => w.pid));
    for (const m of [series.sat, series.rss]) for (const k of [...m.keys()]) if (!live.has(k)) m.delete(k);
    $("workers").innerHTML = s.workers.map((w) => "<tr data-pid=\\"" + w.pid + "\\"><td>" + w.pid + "</td><td>" + (w.slot < 0 ? "-" : w.slot) + "</td><td class=\\"" + esc(w.state) + "\\">" + esc(w.state) + "</td><td>" + w.generation + "</td><td>" + dur(w.uptime) + "</td><td>" + rate(w).toFixed(1) + "</td><td>" + (w.inflight ?? "-") + "</td><td>" + pct(w.elu) + "</td><td>" + mb(w.rss) + "</td><td>" + pct(w.cpu == null ? null : w.cpu / 100) + "</td><td class=\\"" + (w.heartbeatAge > 1000 ? "late" : "") + "\\">" + dur(w.heartbeatAge) + "</td></tr>").join("");
    draw($("c-req"), [{ values: series.req }]);
    draw($("c-sat"), [...series.sat.values()].map((values) => ({ values })));
    draw($("c-rss"), [...series.rss.values()].map((values) => ({ values })));
  } catch (err) {
    $("summary").textContent = "cannot read /status: " + err.message;
  }
}
const EXITS = { crash: "crashed", timeout: "timed out", max_requests: "recycled after maxRequests", memory: "recycled: RSS over maxWorkerMemory", reload: "replaced by a reload", scale_down: "retired by a scale-down", shutdown: "stopped with the master", boot_error: "failed to boot", app_load_error: "the app failed to load", exit: "exited by itself" };
function describe(e) {
  const w = e.worker ? "worker " + e.worker.pid + " (" + (e.worker.slot < 0 ? "spare" : "slot " + e.worker.slot) + ", gen " + e.worker.generation + ")" : "";
  const req = (r) => r.method + " " + r.path + " (" + r.ageMs + " ms" + (r.requestId != null ? ", x-request-id " + r.requestId : "") + ")";
  switch (e.type) {
    case "timeout": return w + (e.requests && e.requests.length ? ": " + e.requests.map(req).join(", ") : "") + (e.frame ? "; " + e.frame : "");
    case "exit": return w + ": " + (EXITS[e.reason] || e.reason) + (e.signal ? ", " + e.signal : e.code != null ? ", code " + e.code : "");
    case "generation_ready": case "reloaded": return "generation " + e.generation + " (" + e.workers + " workers)";
    case "reload_failed": return "generation " + e.generation + ": " + e.reason + (e.error ? ": " + e.error : "") + "; " + e.keptWorkers + " workers keep serving";
    case "scale": return e.previous + " -> " + e.target + " workers";
    case "control": return e.action + " (" + e.client + ")";
    case "stopping": return e.graceful ? "graceful" : "quick";
    case "halt": return "exit status " + e.status + (e.budget ? " (restart budget exhausted)" : "");
    default: return w;
  }
}
function onEvent(e) {
  const div = document.createElement("div");
  div.className = e.type;
  const line = new Date(e.time).toLocaleTimeString() + "  " + e.type.toUpperCase() + "  " + describe(e);
  if (e.type === "timeout" && (e.stack || (e.requests && e.requests.length))) {
    div.innerHTML = "<details><summary>" + esc(line) + "</summary><pre>" + esc((e.requests || []).map((r) => "request: " + r.method + " " + r.path + " " + r.ageMs + " ms" + (r.requestId != null ? " x-request-id " + r.requestId : "")).concat(e.stack ? [e.stack] : []).join("\\n")) + "</pre></details>";
  } else div.textContent = line;
  const box = $("events");
  box.prepend(div);
  while (box.childElementCount > 500) box.lastElementChild.remove();
  if (e.type !== "halt") return;
  $("conn").textContent = "· the master stopped";
  source.close();
}
const source = new EventSource("events?backlog=50");
source.onmessage = (m) => onEvent(JSON.parse(m.data));
source.onopen = () => ($("conn").textContent = "· live");
source.onerror = () => ($("conn").textContent = "· reconnecting…");
poll();
setInterval(() => { if (!document.hidden) poll(); }, 2000);
</script>
</body>
</html>
`;
