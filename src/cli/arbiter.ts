#!/usr/bin/env node
// The `arbiter` command (package.json `bin`). First, for its side effect: in a worker process the
// orphan guard and watchdog start before anything else is loaded (see worker/guard.ts).
import '../worker/guard.js';
import { main } from './main.js';

main(process.argv.slice(2)).then(
  (status) => {
    process.exitCode = status;
  },
  (err: unknown) => {
    process.stderr.write(`arbiter: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1); // whatever the loaded code left running
  },
);
