// An app as it is written for `node server.mjs` or PM2 — it calls listen() itself. arbiter runs it
// unchanged:  npx arbiter -w 2 examples/server.mjs   then: curl http://127.0.0.1:3000/hello/you
// The master binds 127.0.0.1:3000 once (it keeps it across reloads), every worker accepts from it.
import express from 'express';

const app = express();
app.get('/hello/:name', (req, res) => {
  res.type('text/plain').send(`hello ${req.params.name} from worker ${process.pid}\n`);
});
const port = Number(process.env.PORT ?? 3000);
app.listen(port, '127.0.0.1', () => console.log(`listening on http://127.0.0.1:${port} (pid ${process.pid})`));
