// `reload` (development): the master watches the files the workers loaded (they report them,
// see worker/module-graph.ts) and `reloadExtraFiles`, and reloads when one changes. One
// fs.watch() per directory, not per file: an editor that saves by writing a new file and renaming
// it over the old one replaces the file's inode, which a watch on the file itself would lose.
import { watch, type FSWatcher } from 'node:fs';
import path from 'node:path';
import { trace } from '../trace.js';

/** Changes within this long are one reload (an editor writes a file in several steps; "save all"). */
export const RELOAD_DEBOUNCE = 100;

/** Watches files; calls `changed(file)` once per burst of changes. */
export class FileWatch {
  readonly #changed: (file: string) => void;
  /** directory → the watched names in it, and its watcher */
  readonly #dirs = new Map<string, { names: Set<string>; watcher: FSWatcher | undefined }>();
  #timer: NodeJS.Timeout | undefined;
  #first: string | undefined;
  #closed = false;

  constructor(changed: (file: string) => void) {
    this.#changed = changed;
  }

  /** Watches these files too (absolute paths; files already watched are skipped). */
  add(files: Iterable<string>): void {
    if (this.#closed) return;
    let added = 0;
    for (const file of files) {
      const dir = path.dirname(file);
      let entry = this.#dirs.get(dir);
      if (!entry) {
        entry = { names: new Set(), watcher: this.#watch(dir) };
        this.#dirs.set(dir, entry);
      }
      const name = path.basename(file);
      if (!entry.names.has(name)) {
        entry.names.add(name);
        added++;
      }
    }
    if (added > 0) trace.master('reload: watching %d more files (%d directories)', added, this.#dirs.size);
  }

  /** How many files are watched. */
  get size(): number {
    let n = 0;
    for (const { names } of this.#dirs.values()) n += names.size;
    return n;
  }

  #watch(dir: string): FSWatcher | undefined {
    try {
      const watcher = watch(dir, { persistent: false }, (_event, name) => {
        const names = this.#dirs.get(dir)?.names;
        if (name === null || !names?.has(name.toString())) return;
        this.#fire(path.join(dir, name.toString()));
      });
      watcher.on('error', (err) => trace.master('reload: watching %s failed: %s', dir, err.message));
      return watcher;
    } catch (err) {
      trace.master('reload: cannot watch %s: %s', dir, (err as Error).message);
      return undefined;
    }
  }

  #fire(file: string): void {
    this.#first ??= file;
    if (this.#timer) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      const first = this.#first!;
      this.#first = undefined;
      if (!this.#closed) this.#changed(first);
    }, RELOAD_DEBOUNCE);
  }

  /** Stops watching. */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    for (const { watcher } of this.#dirs.values()) watcher?.close();
    this.#dirs.clear();
  }
}

/** The master's watch for `reload`: the extra files now, the workers' files as they report them. */
export function watchForReload(config: { reloadExtraFiles: readonly string[] }, log: { info(line: string): void }, reload: () => void): FileWatch {
  const files = new FileWatch((file) => {
    log.info(`Worker reloading: ${path.relative(process.cwd(), file) || file} modified`);
    reload();
  });
  files.add(config.reloadExtraFiles);
  return files;
}
