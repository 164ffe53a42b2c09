// The CommonJS entry has the same declarations.
import arbiter = require('arbiter');

const a = new arbiter.Arbiter({ load: () => () => {} });
a.on('worker_ready', (w: arbiter.WorkerInfo) => void w.slot);
// @ts-expect-error unknown event name
a.on('worker_readyy', () => {});
