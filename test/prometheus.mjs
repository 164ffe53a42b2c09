// A small strict parser of the Prometheus text exposition format (version 0.0.4), as a scraper
// reads it: it throws on anything a scraper would reject.

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);
const SUFFIXES = { histogram: ['_bucket', '_sum', '_count'], summary: ['_sum', '_count', ''], counter: [''], gauge: [''], untyped: [''] };

function parseValue(text, line) {
  if (text === '+Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  if (text === 'NaN') return NaN;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) throw new Error(`bad value ${JSON.stringify(text)} in: ${line}`);
  return Number(text);
}

function parseLabels(text, line) {
  const labels = {};
  let i = 0;
  while (i < text.length) {
    const eq = text.indexOf('=', i);
    if (eq < 0) throw new Error(`bad labels in: ${line}`);
    const name = text.slice(i, eq).trim();
    if (!LABEL.test(name) || name in labels) throw new Error(`bad or repeated label ${name} in: ${line}`);
    if (text[eq + 1] !== '"') throw new Error(`unquoted label value in: ${line}`);
    let j = eq + 2;
    let v = '';
    for (; j < text.length && text[j] !== '"'; j++) {
      if (text[j] === '\\') {
        const c = text[++j];
        v += c === 'n' ? '\n' : c === '\\' ? '\\' : c === '"' ? '"' : (() => { throw new Error(`bad escape in: ${line}`); })();
      } else v += text[j];
    }
    if (text[j] !== '"') throw new Error(`unterminated label value in: ${line}`);
    labels[name] = v;
    i = j + 1;
    if (text[i] === ',') i++;
    else if (i < text.length) throw new Error(`expected , between labels in: ${line}`);
  }
  return labels;
}

/**
 * Parses a page: Map family name -> { type, help, samples: [{ name, labels, value }] }.
 * Throws when a family is declared twice, a sample comes before its TYPE or belongs to no
 * declared family, a name/label/value is malformed, or the same series appears twice.
 */
export function parsePrometheus(page) {
  if (!page.endsWith('\n')) throw new Error('the page must end with a newline');
  const families = new Map();
  const series = new Set();
  let current;
  for (const line of page.slice(0, -1).split('\n')) {
    if (line === '') continue;
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
      if (!m) continue; // a comment
      const [, kind, name, rest] = m;
      if (!NAME.test(name)) throw new Error(`bad metric name in: ${line}`);
      let f = families.get(name);
      if (!f) {
        f = { name, type: undefined, help: undefined, samples: [] };
        families.set(name, f);
      } else if (current !== f || f.samples.length > 0) {
        throw new Error(`family ${name} declared again (or interleaved) at: ${line}`);
      }
      if (kind === 'TYPE') {
        if (f.type) throw new Error(`second TYPE for ${name}`);
        if (!TYPES.has(rest)) throw new Error(`bad type in: ${line}`);
        f.type = rest;
      } else {
        if (f.help !== undefined) throw new Error(`second HELP for ${name}`);
        f.help = rest;
      }
      current = f;
      continue;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: (-?\d+))?$/.exec(line);
    if (!m) throw new Error(`bad sample line: ${line}`);
    const [, name, labelText, valueText] = m;
    if (!current || !current.type) throw new Error(`sample before its TYPE: ${line}`);
    const suffix = name.startsWith(current.name) ? name.slice(current.name.length) : undefined;
    if (suffix === undefined || !SUFFIXES[current.type].includes(suffix)) throw new Error(`sample ${name} does not belong to family ${current.name} (${current.type})`);
    const labels = labelText ? parseLabels(labelText, line) : {};
    const key = `${name}${JSON.stringify(Object.entries(labels).sort())}`;
    if (series.has(key)) throw new Error(`repeated series: ${line}`);
    series.add(key);
    current.samples.push({ name, labels, value: parseValue(valueText, line) });
  }
  return families;
}

/** The value of the one sample of `family` whose labels include `labels`. */
export function sample(families, family, labels = {}) {
  const f = families.get(family);
  if (!f) throw new Error(`no family ${family}`);
  const hits = f.samples.filter((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === String(v)));
  if (hits.length !== 1) throw new Error(`${hits.length} samples of ${family} match ${JSON.stringify(labels)}`);
  return hits[0].value;
}
