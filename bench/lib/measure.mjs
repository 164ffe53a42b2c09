// One measurement with noise detection, repeated (bounded) while the machine is busy elsewhere.
import { cpuWindow } from './noise.mjs';

/**
 * Runs `fn()` while watching CPU; when processes outside the bench (not under `roots`, not the load
 * generator, not the bench itself) used more than `ctx.maxOther` % of a core, waits for quiet and
 * repeats, at most `retries` times. Returns fn's result plus `cpu` (see cpuWindow) and `noisy`.
 */
export async function measured(ctx, roots, fn, { retries = ctx.quick ? 0 : 2, what = 'measurement' } = {}) {
  for (let attempt = 0; ; attempt++) {
    const finish = cpuWindow(roots);
    const value = await fn();
    const cpu = finish();
    const noisy = cpu.other > ctx.maxOther;
    if (noisy && attempt < retries) {
      ctx.log(`  ${what}: other processes used ${cpu.other.toFixed(0)}% of a core (> ${ctx.maxOther}%): repeating`);
      await ctx.waitQuiet();
      continue;
    }
    ctx.count(noisy);
    return { ...value, cpu, noisy, attempts: attempt + 1 };
  }
}

/** The runs a median should use: the clean ones, or all of them when none is clean. */
export const clean = (runs) => (runs.some((r) => !r.noisy) ? runs.filter((r) => !r.noisy) : runs);

/** "3" or "2 of 3" (one noisy run left out) or "3, all noisy". */
export function runsLabel(runs) {
  const c = runs.filter((r) => !r.noisy).length;
  return c === runs.length ? String(runs.length) : c ? `${c} of ${runs.length}` : `${runs.length}, all noisy`;
}
