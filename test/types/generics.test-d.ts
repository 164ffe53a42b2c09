// The handler type `H` ties load(), workerClass and the hooks together (see docs/worker-models.md,
// "Typing the handler"). Every `@ts-expect-error` line must be an error.
import http from 'node:http';
import { Application, Arbiter, AsyncWorker, WorkerClass, type ApplicationLike, type ArbiterConfig } from 'arbiter';

type LineHandler = (line: string) => string;
class LineWorker extends WorkerClass<LineHandler> {
  async run(): Promise<void> {
    const out: string = this.handler('x'); // `this.handler` is typed by the class's H
    void out;
  }
}

// Fits: an HTTP handler with a built-in model (or none: 'async'), a line handler with LineWorker.
new Arbiter({ load: () => (req, res) => void res.end(req.url) }); // req/res typed from the default H
new Arbiter({ config: { workerClass: 'sync' }, load: async () => (_req: http.IncomingMessage, res: http.ServerResponse) => res.end() });
new Arbiter({ config: { workerClass: AsyncWorker }, load: () => (_req: http.IncomingMessage, res: http.ServerResponse) => res.end() });
new Arbiter({ config: { workerClass: LineWorker }, load: () => (line: string) => line.toUpperCase() });
// Hooks receive a WorkerClass<H>: `worker.handler` has the app's handler type.
new Arbiter({
  config: {
    workerClass: LineWorker,
    postFork: (w) => void w.handler('a').length,
    workerExit: async (w) => void w.pid, // hooks may return promises
  },
  load: () => (line: string) => line,
});
const shared: ArbiterConfig = { workers: 2, postWorkerInit: (w) => void (w.handler satisfies http.RequestListener) };
new Arbiter({ config: shared, load: () => (_req, res) => res.end() });
// `satisfies` keeps the literal type (a `: ApplicationLike<H>` annotation would forget that
// workerClass is set, see the last error below).
const lineApp = { config: { workerClass: LineWorker }, load: () => (l: string) => l } satisfies ApplicationLike<LineHandler>;
new Arbiter(lineApp);
class LineApp extends Application<LineHandler> {
  override config = { workerClass: LineWorker };
  load(): LineHandler {
    return (l) => l;
  }
}
new Arbiter(new LineApp());

// Does not fit.
// @ts-expect-error a handler that is not a RequestListener needs a workerClass of its type
new Arbiter({ load: () => (line: string) => line });
// @ts-expect-error the built-in models serve RequestListeners only
new Arbiter({ config: { workerClass: 'async' }, load: () => (line: string) => line });
// @ts-expect-error a WorkerClass<X> with a load() returning a Y
new Arbiter({ config: { workerClass: LineWorker }, load: () => (n: number) => n });
// @ts-expect-error a line worker cannot serve an HTTP handler
new Arbiter({ config: { workerClass: LineWorker }, load: () => (_req: http.IncomingMessage, res: http.ServerResponse) => res.end() });
// @ts-expect-error load() must return a handler, not a server-like object
new Arbiter({ load: () => ({ listen() {} }) });
// @ts-expect-error hooks get a WorkerClass<H>: its handler is not a string
new Arbiter({ config: { postFork: (w) => void (w.handler satisfies string) }, load: () => (_req, res) => res.end() });
class NoModelApp extends Application<LineHandler> {
  load(): LineHandler {
    return (l) => l;
  }
}
// @ts-expect-error an Application with a line handler and no workerClass
new Arbiter(new NoModelApp());
const annotated: ApplicationLike<LineHandler> = { config: { workerClass: LineWorker }, load: () => (l) => l };
// @ts-expect-error the annotation widened `config` to optional: use `satisfies ApplicationLike<H>`
new Arbiter(annotated);
