// Durations and sizes with units: one parser for the command line's flags, config files and the
// library's options. What a number without a unit means is the caller's choice (seconds on the
// command line, as gunicorn; milliseconds or bytes in the API).

/** The units a duration string may carry: milliseconds, seconds, minutes, hours. */
export type DurationUnit = 'ms' | 's' | 'm' | 'h';

const DURATION_UNITS: Readonly<Record<DurationUnit, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * A duration option: milliseconds as a number, or a number with a unit as a string
 * (`'30s'`, `'500ms'`, `'2m'`, `'1h'`, `'1.5s'`; units are lower case). Resolved to milliseconds.
 */
export type Duration = number | `${number}${DurationUnit}`;

/** The units a size string may carry, 1024-based (`kb` = 1024 bytes); any case is accepted. */
export type SizeUnit = 'b' | 'k' | 'kb' | 'm' | 'mb' | 'g' | 'gb';

const SIZE_UNITS: Readonly<Record<SizeUnit, number>> = { b: 1, k: 1024, kb: 1024, m: 1024 ** 2, mb: 1024 ** 2, g: 1024 ** 3, gb: 1024 ** 3 };

/**
 * A size option: bytes as a number, or a number with a 1024-based unit as a string (`'512mb'`,
 * `'1gb'`, `'64kb'`, `'1.5GB'`; case does not matter). Resolved to bytes.
 */
export type Size = number | `${number}${SizeUnit | Uppercase<SizeUnit>}`;

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/;
const SIZE = /^(\d+(?:\.\d+)?)\s*(b|k|kb|m|mb|g|gb)?$/i;

/**
 * `'30s'`, `'500ms'`, `'2m'`, `'1h'` → milliseconds (rounded); `undefined` when the text is not a
 * duration. A number without a unit takes `bare` (the command line's `-t 30` is seconds); without
 * `bare` a unit is required.
 */
export function parseDuration(text: string, bare?: DurationUnit): number | undefined {
  const m = DURATION.exec(text.trim());
  const unit = (m?.[2] as DurationUnit | undefined) ?? bare;
  if (!m || unit === undefined) return undefined;
  return Math.round(Number(m[1]) * DURATION_UNITS[unit]);
}

/**
 * `'512mb'`, `'1gb'`, `'64k'` → bytes (1024-based, any case, rounded); `undefined` when the text
 * is not a size. A number without a unit takes `bare` (bytes); without `bare` a unit is required.
 */
export function parseSize(text: string, bare?: SizeUnit): number | undefined {
  const m = SIZE.exec(text.trim());
  const unit = (m?.[2]?.toLowerCase() as SizeUnit | undefined) ?? bare;
  if (!m || unit === undefined) return undefined;
  return Math.round(Number(m[1]) * SIZE_UNITS[unit]);
}
