// Noise detection: how much CPU did processes outside the bench use while we measured?
// The machine is shared; a measurement during which others used more than `maxOther` % of a core
// is flagged (and, where the scenario can, repeated) and left out of medians that have clean runs.
import { cpuNs, machineBusyNs, nowNs, selfCpuNs, sleep, tree } from './proc.mjs';

/** Busy % of one core over `ms` of waiting (the whole machine). */
export async function machineBusyPct(ms) {
  const b0 = machineBusyNs();
  const t0 = nowNs();
  await sleep(ms);
  return (100 * (machineBusyNs() - b0)) / Number(nowNs() - t0);
}

/** Before a measurement: waits (at most `maxWaitMs`) while something else keeps the machine busy. Returns the last reading. */
export async function waitQuiet(maxOther, log, maxWaitMs = 15_000) {
  const deadline = Date.now() + maxWaitMs;
  let busy = await machineBusyPct(300);
  if (busy <= maxOther) return busy;
  log(`machine ${busy.toFixed(0)}% busy (of one core) outside the bench: waiting up to ${maxWaitMs / 1000} s`);
  while (busy > maxOther && Date.now() < deadline) busy = await machineBusyPct(500);
  return busy;
}

/** CPU ns of every process in the trees under `roots` (a list, or a function giving it), by pid. */
function snapshot(roots) {
  const m = new Map();
  for (const root of typeof roots === 'function' ? roots() : roots) if (root) for (const pid of tree(root)) m.set(pid, cpuNs(pid));
  return m;
}

/**
 * Starts watching CPU: returns `finish()`, which gives, in % of one core over the window,
 * `servers` (the trees under `roots`; a function is asked at both ends, for servers that start
 * during the window), `client` (our reaped children: the load generator),
 * `bench` (this process) and `other` (everything else on the machine).
 */
export function cpuWindow(roots = []) {
  const t0 = nowNs();
  const m0 = machineBusyNs();
  const s0 = selfCpuNs();
  const before = snapshot(roots);
  return () => {
    const after = snapshot(roots);
    const s1 = selfCpuNs();
    const ns = Number(nowNs() - t0);
    const pct = (v) => (100 * v) / ns;
    let servers = 0;
    for (const [pid, v] of after) servers += v - (before.get(pid) ?? 0);
    const machine = pct(machineBusyNs() - m0);
    const client = pct(s1.children - s0.children);
    const bench = pct(s1.self - s0.self);
    const out = { seconds: ns / 1e9, machine, servers: pct(servers), client, bench };
    out.other = Math.max(0, machine - out.servers - client - bench);
    return out;
  };
}
