// An app module for the `arbiter` command: no master script, just the handler.
//   npx arbiter -w 4 -b 127.0.0.1:8000 examples/app.mjs
//   npx arbiter status          # from another terminal
// The default export may also be an express app, a Fastify instance, a Koa app, an object with
// load(), or a function returning one of these (see docs/cli.md).
export default function app(req, res) {
  res.setHeader('content-type', 'text/plain');
  res.end(`hello from worker ${process.pid}\n`);
}
