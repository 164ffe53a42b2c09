// PM2, installed on first use into a cache directory outside the repository (npm install --prefix);
// each start gets a private PM2_HOME in a temp directory (your own ~/.pm2 is never touched), and its
// daemon is always killed at the end, also on error and interrupt.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { alive, anyAlive, onCleanup, runCapture, sleep, trackTree, tree } from './proc.mjs';
import { which } from './load.mjs';

/** Finds or installs PM2; returns { bin, version } or null (after logging why). */
export async function ensurePm2({ dir, version: wanted = 'latest', log }) {
  const bin = path.join(dir, 'node_modules', 'pm2', 'bin', 'pm2');
  const version = () => {
    try {
      return JSON.parse(readFileSync(path.join(dir, 'node_modules', 'pm2', 'package.json'), 'utf8')).version;
    } catch {
      return null;
    }
  };
  if (existsSync(bin) && version()) return { bin, version: version() };
  const npm = which('npm');
  if (!npm) {
    log('PM2 skipped: npm is not on PATH');
    return null;
  }
  log(`installing pm2@${wanted} into ${dir} (first use only) ...`);
  mkdirSync(dir, { recursive: true });
  const r = await runCapture(npm, ['install', '--prefix', dir, '--no-audit', '--no-fund', '--no-save', '--loglevel=error', `pm2@${wanted}`], {
    env: { ...process.env, npm_config_update_notifier: 'false' },
    timeoutMs: 300_000,
  });
  if (r.code !== 0 || !version()) {
    log(`PM2 skipped: npm install failed (exit ${r.code}):\n${r.out.trim()}`);
    return null;
  }
  return { bin, version: version() };
}

/** A PM2 daemon with one app (`script`, `instances` workers in cluster mode), private to this run. */
export class Pm2App {
  constructor(pm2, tempRoot, env) {
    this.pm2 = pm2;
    this.home = mkdtempSync(path.join(tempRoot, 'pm2-home-'));
    this.env = { ...process.env, ...env, PM2_HOME: this.home, PM2_DISABLE_VERSION_CHECK: 'true' };
    this.offCleanup = onCleanup(() => this.killSync());
  }

  /** pid of PM2's daemon (God), 0 when not running. */
  daemonPid() {
    try {
      const pid = Number(readFileSync(path.join(this.home, 'pm2.pid'), 'utf8').trim());
      return pid > 0 && alive(pid) ? pid : 0;
    } catch {
      return 0;
    }
  }

  cli(args, timeoutMs = 120_000) {
    return runCapture(process.execPath, [this.pm2.bin, ...args], { env: this.env, timeoutMs });
  }

  /** `pm2 start script -i instances`; PM2 restarts a dead worker only with `autorestart`. */
  async start(script, instances, { autorestart = false } = {}) {
    const r = await this.cli(['start', script, '-i', String(instances), '--name', 'bench', ...(autorestart ? [] : ['--no-autorestart'])]);
    const daemon = this.daemonPid();
    if (daemon) trackTree(daemon);
    if (r.code !== 0 || !daemon) throw new Error(`pm2 start failed (exit ${r.code}):\n${r.out.trim()}`);
    return daemon;
  }

  /** `pm2 reload bench`: PM2's graceful reload (new worker, then the old one gets SIGINT). */
  async reload() {
    const r = await this.cli(['reload', 'bench']);
    if (r.code !== 0) throw new Error(`pm2 reload failed (exit ${r.code}):\n${r.out.trim()}`);
    const daemon = this.daemonPid();
    if (daemon) trackTree(daemon);
  }

  logs() {
    try {
      const dir = path.join(this.home, 'logs');
      return spawnSync('tail', ['-n', '20', ...readdirSync(dir).map((f) => path.join(dir, f))], { encoding: 'utf8' }).stdout;
    } catch {
      return '';
    }
  }

  async stop() {
    const t0 = performance.now();
    const daemon = this.daemonPid();
    const pids = daemon ? tree(daemon) : [];
    if (daemon) trackTree(daemon);
    await this.cli(['kill'], 30_000);
    for (let i = 0; i < 100 && anyAlive(pids); i++) await sleep(20);
    const ms = performance.now() - t0;
    const leftovers = pids.filter((p) => anyAlive([p])).length;
    this.killSync();
    return { ms, forced: leftovers > 0, leftovers };
  }

  /** Synchronous last resort (exit/interrupt): `pm2 kill`, then SIGKILL whatever is left. */
  killSync() {
    const daemon = this.daemonPid();
    const pids = daemon ? tree(daemon) : [];
    if (daemon) spawnSync(process.execPath, [this.pm2.bin, 'kill'], { env: this.env, stdio: 'ignore', timeout: 15_000 });
    for (const p of pids) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        // gone
      }
    }
    rmSync(this.home, { recursive: true, force: true });
    this.offCleanup();
  }
}
