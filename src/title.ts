import type { OperatorLog } from './log.js';

/**
 * Sets the process title (`procName`). Linux keeps the title in the memory that held the
 * original command line, so it is cut to that length (`node server.js`: 14 characters); the
 * title reads back cut, and then we say so (once per call, when `warn`).
 */
export function setProcessTitle(title: string, log: OperatorLog, warn = true): void {
  process.title = title;
  if (warn && process.title !== title) {
    log.warning(
      `procName: the process title was cut to ${JSON.stringify(process.title)} (${process.title.length} characters): ` +
        `Linux keeps at most the length of the command line the process was started with. ` +
        `Use a shorter procName, or a longer command line (e.g. the script's absolute path).`,
    );
  }
}
