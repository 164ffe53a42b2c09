// Every scenario, in report order. Each module exports `run(ctx)` returning
// { title, summary: [rows for the summary table], section: markdown, chart?: [panels], raw }.
import * as balance from './balance.mjs';
import * as boot from './boot.mjs';
import { faults, status } from './external.mjs';
import * as hang from './hang.mjs';
import * as idle from './idle.mjs';
import * as reload from './reload.mjs';
import * as respawn from './respawn.mjs';
import * as reuseport from './reuseport.mjs';
import * as throughput from './throughput.mjs';

export const SCENARIOS = { throughput, balance, respawn, hang, idle, reload, boot, reuseport, faults, status };
