/** Where the command writes (tests pass their own). */
export interface Output {
  /** Writes one line to stdout. */
  out(text: string): void;
  /** Writes one line to stderr. */
  err(text: string): void;
}
