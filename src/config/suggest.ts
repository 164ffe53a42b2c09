// "Did you mean": the closest known name to a mistyped one (options here, flags in cli/args.ts).

/** Edit distance (insertions, deletions, substitutions, adjacent transpositions) between two names. */
function distance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, d[i - 2]![j - 2]! + 1);
      d[i]![j] = best;
    }
  }
  return d[a.length]![b.length]!;
}

/**
 * The closest of `candidates` to `name`, for "did you mean" hints (option names here, the
 * command's flags in cli/args.ts): case, `_` and `-` are ignored (`graceful_timeout` →
 * `gracefulTimeout`), then up to one typo per four letters (`timout` → `timeout`, `wrokers` →
 * `workers`). `undefined` when none is that close.
 */
export function closestName(name: string, candidates: readonly string[]): string | undefined {
  const norm = (s: string): string => s.toLowerCase().replace(/[_-]/g, '');
  const wanted = norm(name);
  let best: { name: string; d: number } | undefined;
  for (const k of candidates) {
    const d = distance(wanted, norm(k));
    if (!best || d < best.d) best = { name: k, d };
  }
  return best && best.d <= Math.max(1, Math.floor(wanted.length / 4)) ? best.name : undefined;
}
