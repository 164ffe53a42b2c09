// docs/deploy.md: the files it shows are valid and consistent (the Kubernetes manifest is parsed,
// the grace period covers preStop + gracefulTimeout), and its entry point runs as written.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { Master, freePort, request, waitFor } from './helpers.mjs';
import { parsePrometheus, sample } from './prometheus.mjs';

const doc = readFileSync(new URL('../docs/deploy.md', import.meta.url), 'utf8');
const exampleFile = fileURLToPath(new URL('../examples/production.mjs', import.meta.url));
const example = readFileSync(exampleFile, 'utf8');

/** The fenced code blocks of the guide in language `lang`, in order. */
const blocks = (lang) => [...doc.matchAll(new RegExp('^```' + lang + '\\n([\\s\\S]*?)^```$', 'gm'))].map((m) => m[1]);

/** gracefulTimeout of the entry point, in seconds. */
const gracefulSeconds = Number(/gracefulTimeout: ([\d_]+)/.exec(example)[1].replace(/_/g, '')) / 1000;

test('the guide shows examples/production.mjs as it is', () => {
  assert.equal(blocks('js')[0], example);
  assert.equal(gracefulSeconds, 25);
});

test('the Kubernetes manifest parses and is consistent: probes, preStop, grace period, CPU limit', () => {
  const yamls = blocks('yaml');
  assert.equal(yamls.length, 3, 'the Deployment, then the autoscaling manifests');
  const docs = parseAllDocuments(yamls[0]);
  for (const d of docs) assert.deepEqual(d.errors, [], 'YAML errors');
  const deployment = docs.map((d) => d.toJS()).find((o) => o.kind === 'Deployment');
  assert.equal(deployment.apiVersion, 'apps/v1');
  assert.deepEqual(deployment.spec.selector.matchLabels, deployment.spec.template.metadata.labels);
  assert.equal(deployment.spec.strategy.rollingUpdate.maxUnavailable, 0);
  const pod = deployment.spec.template.spec;
  const [c] = pod.containers;
  const port = (name) => c.ports.find((p) => p.name === name)?.containerPort;
  const env = Object.fromEntries(c.env.map((e) => [e.name, e.value]));
  assert.equal(env.STATUS_BIND, `0.0.0.0:${port('status')}`, 'the probes reach the status server');
  assert.equal(Number(env.PORT), port('http'));
  assert.deepEqual([c.readinessProbe.httpGet.path, c.readinessProbe.httpGet.port], ['/readyz', 'status']);
  assert.deepEqual([c.startupProbe.httpGet.path, c.startupProbe.httpGet.port], ['/readyz', 'status']);
  assert.deepEqual([c.livenessProbe.httpGet.path, c.livenessProbe.httpGet.port], ['/healthz', 'status']);
  const [cmd, seconds] = c.lifecycle.preStop.exec.command;
  assert.equal(cmd, 'sleep');
  assert.ok(pod.terminationGracePeriodSeconds >= Number(seconds) + gracefulSeconds, `grace ${pod.terminationGracePeriodSeconds} s >= preStop ${seconds} s + gracefulTimeout ${gracefulSeconds} s`);
  assert.ok(c.resources.limits.cpu, "a CPU limit, for workers: 'auto'");
  const annotations = deployment.spec.template.metadata.annotations;
  assert.equal(annotations['prometheus.io/port'], String(port('status')));
  assert.equal(annotations['prometheus.io/path'], '/metrics');
});

test('the autoscaling manifests parse and scale the Deployment on arbiter_saturation (Prometheus Adapter, KEDA)', async () => {
  const { METRIC_NAMES } = await import('../dist/esm/master/metrics.js');
  assert.ok(METRIC_NAMES.includes('arbiter_saturation'), 'the metric the master exports');
  const parse = (text) => {
    const docs = parseAllDocuments(text);
    for (const d of docs) assert.deepEqual(d.errors, [], 'YAML errors');
    return docs.map((d) => d.toJS());
  };
  const [, adapterYaml, kedaYaml] = blocks('yaml');
  const deployment = parse(blocks('yaml')[0]).find((o) => o.kind === 'Deployment');
  const target = { apiVersion: deployment.apiVersion, kind: deployment.kind, name: deployment.metadata.name };

  const objects = parse(adapterYaml);
  const adapter = objects.find((o) => o.kind === 'ConfigMap');
  const { rules } = parse(adapter.data['config.yaml'])[0];
  assert.equal(rules.length, 1);
  const [rule] = rules;
  assert.match(rule.seriesQuery, /^'?arbiter_saturation\{namespace!="",pod!=""\}'?$/);
  assert.deepEqual(rule.resources.overrides, { namespace: { resource: 'namespace' }, pod: { resource: 'pod' } });
  for (const placeholder of ['<<.Series>>', '<<.LabelMatchers>>', '<<.GroupBy>>']) assert.ok(rule.metricsQuery.includes(placeholder), `metricsQuery uses ${placeholder}`);

  const hpa = objects.find((o) => o.kind === 'HorizontalPodAutoscaler');
  assert.equal(hpa.apiVersion, 'autoscaling/v2');
  assert.deepEqual(hpa.spec.scaleTargetRef, target);
  assert.ok(hpa.spec.minReplicas >= 1 && hpa.spec.minReplicas <= hpa.spec.maxReplicas);
  assert.equal(hpa.spec.minReplicas, deployment.spec.replicas, 'the HPA starts where the Deployment does');
  const [metric] = hpa.spec.metrics;
  assert.equal(metric.type, 'Pods');
  assert.equal(metric.pods.metric.name, rule.name.as, 'the HPA asks for the name the adapter serves');
  assert.equal(metric.pods.target.type, 'AverageValue');
  const quantity = /^(\d+)m$/.exec(metric.pods.target.averageValue);
  assert.ok(quantity && Number(quantity[1]) > 0 && Number(quantity[1]) < 1000, `a saturation target between 0 and 1: ${metric.pods.target.averageValue}`);

  const [scaled] = parse(kedaYaml);
  assert.equal(scaled.apiVersion, 'keda.sh/v1alpha1');
  assert.equal(scaled.kind, 'ScaledObject');
  assert.equal(scaled.spec.scaleTargetRef.name, target.name);
  assert.ok(scaled.spec.minReplicaCount <= scaled.spec.maxReplicaCount);
  const [trigger] = scaled.spec.triggers;
  assert.equal(trigger.type, 'prometheus');
  assert.match(trigger.metadata.query, /arbiter_saturation\{/);
  assert.match(trigger.metadata.serverAddress, /^https?:\/\//);
  assert.equal(typeof trigger.metadata.threshold, 'string', 'KEDA wants the threshold as a string');
  assert.ok(Number(trigger.metadata.threshold) > 0 && Number(trigger.metadata.threshold) < 1);
});

test('the Dockerfile runs the master under tini, exec form, with the status port exposed', () => {
  const [dockerfile] = blocks('dockerfile');
  assert.match(dockerfile, /^ENTRYPOINT \["\/usr\/bin\/tini", "--"\]$/m);
  assert.deepEqual(JSON.parse(/^CMD (.*)$/m.exec(dockerfile)[1]), ['node', 'server.mjs']);
  assert.match(dockerfile, /^EXPOSE 8000 9000$/m);
  assert.match(dockerfile, /STATUS_BIND=0\.0\.0\.0:9000/);
});

test('the systemd units: Type=notify, NotifyAccess=all, KillMode=mixed, stop timeout > gracefulTimeout, socket activation', () => {
  const ini = (text) => Object.fromEntries(text.split('\n').filter((l) => /^\w+=/.test(l)).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
  const [service, socket] = blocks('ini').map(ini);
  assert.equal(service.Type, 'notify');
  assert.equal(service.NotifyAccess, 'all');
  assert.equal(service.KillMode, 'mixed');
  assert.equal(service.ExecReload, '/bin/kill -HUP $MAINPID');
  assert.ok(Number(service.TimeoutStopSec) > gracefulSeconds);
  assert.ok(Number(service.WatchdogSec) > 0);
  assert.equal(service.Requires, 'app.socket');
  assert.equal(socket.ListenStream, '8000');
});

test('examples/production.mjs runs as written: ready, metrics summed, JSON logs, graceful stop', async (t) => {
  const [port, statusPort] = [await freePort(), await freePort()];
  const m = Master.start(t, null, {}, {
    command: process.execPath,
    args: [exampleFile],
    env: { BIND: `127.0.0.1:${port}`, STATUS_BIND: `127.0.0.1:${statusPort}`, WEB_CONCURRENCY: '2' },
  });
  await waitFor(async () => (await request(statusPort, '/readyz').catch(() => ({}))).status === 200, `/readyz\n${m.stderr}`, 20_000);
  await waitFor(async () => JSON.parse((await request(statusPort, '/status')).body).ready === 2, `2 ready workers\n${m.stderr}`, 20_000);
  for (let i = 0; i < 12; i++) assert.match((await request(port, '/')).body, /^hello from worker \d+\n$/);
  const page = parsePrometheus((await request(statusPort, '/metrics')).body);
  assert.equal(sample(page, 'app_requests_total', { code: 200 }), 12);
  assert.equal(sample(page, 'arbiter_workers', { state: 'ready' }), 2);
  m.signal('SIGTERM');
  assert.equal((await m.exited).code, 0);
  const lines = m.stderr.trim().split('\n').map((l) => JSON.parse(l));
  assert.ok(lines.some((l) => l.msg === 'Shutting down: Master'));
});
