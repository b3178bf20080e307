// Tracing at unit level (the cluster test in packages/cli exports real traces over OTLP gRPC):
// when it is on (OTEL_* variables), the off path doing no trace work (no spans handed to routes,
// no `traceparent` sent to peers, replicas called without a context), server spans continuing a
// caller's trace with errors recorded, and failed replica calls recorded on their span.
import { createServer, type IncomingHttpHeaders } from 'node:http';
import { EventEmitter } from 'node:events';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import type { Test } from 'tap';
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Context } from '@opentelemetry/api';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { parseTracing } from '../src/config.js';
import { Coordinator } from '../src/coordinator.js';
import { createHttpServer, type ServerTracing } from '../src/http/server.js';
import { HttpError } from '../src/http/errors.js';
import { Router, type RequestContext } from '../src/http/router.js';
import { Peers } from '../src/peers.js';
import { ReplicaError, type Replica } from '../src/store.js';
import { HybridClock } from '../src/version.js';

const TOKEN = 'a-cluster-token-for-the-test';
const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT_ID = '00f067aa0ba902b7';
const TRACEPARENT = `00-${TRACE_ID}-${PARENT_ID}-01`;
const LIMITS = { headersTimeoutMs: 5_000, requestTimeoutMs: 5_000, maxConnections: 16 };

function memoryTracer(t: Test) {
  const exporter = new InMemorySpanExporter();
  const ended = new EventEmitter();
  // Told of every ended span, so a test awaits spans instead of polling for them.
  const processor = new SimpleSpanProcessor(exporter);
  const onEnd = processor.onEnd.bind(processor);
  processor.onEnd = (span) => {
    onEnd(span);
    ended.emit('span');
  };
  const provider = new BasicTracerProvider({ spanProcessors: [processor] });
  t.teardown(() => provider.shutdown());
  const spans = () => exporter.getFinishedSpans();
  /** Resolves once `count` spans have ended (bounded). */
  const spansEnded = (count: number) =>
    new Promise<void>((resolve, reject) => {
      const check = () => {
        if (spans().length < count) return;
        clearTimeout(timer);
        ended.off('span', check);
        resolve();
      };
      const timer = setTimeout(() => {
        ended.off('span', check);
        reject(new Error(`${spans().length} of ${count} spans ended within 5 s`));
      }, 5_000);
      ended.on('span', check);
      check();
    });
  return { tracer: provider.getTracer('test'), spans, spansEnded };
}

t.test('OTEL_* variables: traces are on only with an OTLP endpoint, and only over gRPC', async (t) => {
  t.equal(parseTracing({}), undefined, 'no variable: off');
  t.same(parseTracing({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://jaeger:4317' }), { endpoint: 'http://jaeger:4317', serviceName: 'ringblock' });
  t.same(parseTracing({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://a:4317', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://b:4317', OTEL_SERVICE_NAME: 'blocks' }), { endpoint: 'https://b:4317', serviceName: 'blocks' }, 'the traces endpoint wins');
  t.same(parseTracing({ OTEL_TRACES_EXPORTER: 'otlp' }), { endpoint: 'http://localhost:4317', serviceName: 'ringblock' }, 'otlp asked for: the default endpoint');
  t.equal(parseTracing({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://jaeger:4317', OTEL_TRACES_EXPORTER: 'none' }), undefined, 'exporter none: off');
  t.equal(parseTracing({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://jaeger:4317', OTEL_SDK_DISABLED: 'true' }), undefined, 'SDK disabled: off');
  t.equal(parseTracing({ OTEL_EXPORTER_OTLP_ENDPOINT: '' }), undefined, 'an empty endpoint is unset');
  t.same(parseTracing({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://jaeger:4317', OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf', OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'grpc' })?.endpoint, 'http://jaeger:4317', 'the traces protocol wins');
  t.throws(() => parseTracing({ OTEL_EXPORTER_OTLP_ENDPOINT: 'jaeger:4317' }), { code: 'BAD_CONFIG', message: /^invalid configuration: OTEL_EXPORTER_OTLP_ENDPOINT must be an http/ });
  t.throws(() => parseTracing({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://jaeger:4318', OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf' }), { code: 'BAD_CONFIG', message: /OTEL_EXPORTER_OTLP_PROTOCOL must be grpc/ });
  t.throws(() => parseTracing({ OTEL_TRACES_EXPORTER: 'zipkin' }), { code: 'BAD_CONFIG', message: /OTEL_TRACES_EXPORTER must be otlp or none/ });
});

/** A node:http server with one traced route (`/probe/{x}`) whose handler records what it was given, and a 404 one. */
async function probeServer(t: Test, tracing: ServerTracing | undefined) {
  const seen: Pick<RequestContext, 'span' | 'trace'>[] = [];
  const router = new Router(
    [
      {
        name: 'probe',
        pattern: /^\/probe\/([^/]*)$/,
        traced: '/probe/{x}',
        methods: {
          GET: ({ res, params, span, trace }) => {
            seen.push({ span, trace });
            if (params[0] === 'missing') throw new HttpError(404, 'NOT_FOUND', 'no such probe');
            res.writeHead(200, { 'content-length': 0 });
            res.end();
          },
        },
      },
    ],
    TOKEN,
  );
  const server = createHttpServer(router, LIMITS, () => undefined, () => undefined, tracing);
  const port = await server.listen(0, '127.0.0.1');
  t.teardown(() => server.close(100));
  const get = async (path: string) => (await fetch(`http://127.0.0.1:${port}${path}`, { headers: { traceparent: TRACEPARENT } })).status;
  return { seen, get };
}

t.test('tracing off: routes get no span or context even when the caller sends traceparent', async (t) => {
  const probe = await probeServer(t, undefined);
  t.equal(await probe.get('/probe/a'), 200);
  t.equal(await probe.get('/probe/missing'), 404);
  t.same(probe.seen, [{ span: undefined, trace: undefined }, { span: undefined, trace: undefined }]);
});

t.test('tracing on: a server span per traced request, continuing the caller\'s trace, errors recorded', async (t) => {
  const { tracer, spans, spansEnded } = memoryTracer(t);
  const probe = await probeServer(t, { tracer, node: 'node-1' });
  t.equal(await probe.get('/probe/a'), 200);
  t.equal(await probe.get('/probe/missing'), 404);
  t.ok(probe.seen.every((context) => context.span && context.trace && trace.getSpan(context.trace) === context.span), 'the handler gets the span and a context holding it');
  // The span ends when the response closes, just after the client saw the answer.
  await spansEnded(2);
  const [ok, missing] = spans();
  t.match(ok, { name: 'GET /probe/{x}', kind: SpanKind.SERVER, attributes: { 'http.request.method': 'GET', 'http.route': '/probe/{x}', 'http.response.status_code': 200, 'ringblock.node': 'node-1' }, status: { code: SpanStatusCode.UNSET } });
  t.equal(ok!.spanContext().traceId, TRACE_ID, 'the caller\'s trace');
  t.equal(ok!.parentSpanContext?.spanId, PARENT_ID, 'the caller\'s span is the parent');
  t.match(missing, { attributes: { 'http.response.status_code': 404, 'error.type': 'NOT_FOUND' }, status: { code: SpanStatusCode.ERROR, message: 'NOT_FOUND: no such probe' } });
});

/** A peer stand-in that answers every internal write 200 `applied` and records the request headers. */
async function headerRecorder(t: Test) {
  const headers: IncomingHttpHeaders[] = [];
  const server = createServer((req, res) => {
    headers.push(req.headers);
    req.resume().on('end', () => res.writeHead(200, { 'x-ringblock-result': 'applied', 'content-length': 0 }).end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise((resolve) => server.close(resolve)));
  return { headers, addr: `127.0.0.1:${(server.address() as AddressInfo).port}` };
}

t.test('replica calls carry traceparent only when they belong to a traced request', async (t) => {
  const peer = await headerRecorder(t);
  const peers = new Peers({ token: TOKEN, timeoutMs: 2_000, connections: 1, epoch: () => 1 });
  t.teardown(() => peers.close());
  const version = new HybridClock('node-1').next();
  await peers.write(peer.addr, 'b1', version, Buffer.alloc(4096));
  const { tracer } = memoryTracer(t);
  const span = tracer.startSpan('replica.put', { kind: SpanKind.CLIENT });
  await peers.write(peer.addr, 'b1', version, Buffer.alloc(4096), trace.setSpan(ROOT_CONTEXT, span));
  span.end();
  t.equal(peer.headers[0]!.traceparent, undefined, 'untraced: no traceparent');
  t.equal(peer.headers[1]!.traceparent, `00-${span.spanContext().traceId}-${span.spanContext().spanId}-01`, 'traced: the client span is the receiver\'s parent');
});

/** A coordinator over three fake replicas (one local); `fail` names the owner whose calls fail. */
function coordinatorOver(calls: { owner: string; trace: Context | undefined; args: number }[], tracer: ReturnType<typeof memoryTracer>['tracer'] | undefined, fail?: string) {
  const owners = [
    { name: 'node-1', addr: '127.0.0.1:1' },
    { name: 'node-2', addr: '127.0.0.1:2' },
    { name: 'node-3', addr: '127.0.0.1:3' },
  ];
  const replica = (owner: string): Replica => ({
    write: async (...args: [string, Buffer, Buffer | undefined, Context?]) => {
      calls.push({ owner, trace: args[3], args: args.length });
      if (owner === fail) throw new ReplicaError('UNREACHABLE', `peer ${owner}: connection refused`);
      return { result: 'applied' };
    },
    read: async () => undefined,
  });
  return new Coordinator({
    self: 'node-1',
    clock: new HybridClock('node-1'),
    local: replica('node-1'),
    remote: (addr) => replica(owners.find((owner) => owner.addr === addr)!.name),
    view: () => ({ epoch: 1, owners: () => owners, isLive: () => true }),
    ringConfirmed: () => true,
    awaitEpoch: async () => false,
    tracer,
  });
}

t.test('the coordinator: replicas called without a context when off; a span per call, failures recorded, when on', async (t) => {
  const untraced: { owner: string; trace: Context | undefined; args: number }[] = [];
  await coordinatorOver(untraced, undefined).write('b1', Buffer.alloc(4096), 'all');
  t.same(untraced.map((call) => call.args), [3, 3, 3], 'off: three replica calls, no context argument');

  const { tracer, spans } = memoryTracer(t);
  const traced: typeof untraced = [];
  const request = tracer.startSpan('PUT /block/{id}', { kind: SpanKind.SERVER });
  await coordinatorOver(traced, tracer, 'node-3').write('b1', Buffer.alloc(4096), 'quorum', trace.setSpan(ROOT_CONTEXT, request));
  request.end();
  await new Promise((resolve) => setImmediate(resolve));
  const calls = spans().filter((span) => span.name === 'replica.put');
  t.equal(calls.length, 3, 'one span per replica call');
  t.ok(calls.every((span) => span.parentSpanContext?.spanId === request.spanContext().spanId), 'children of the request span');
  t.ok(traced.every((call) => call.trace && trace.getSpan(call.trace)?.spanContext().spanId !== request.spanContext().spanId), 'each replica gets its call span\'s context');
  const byPeer = new Map(calls.map((span) => [span.attributes['ringblock.peer'], span]));
  t.match(byPeer.get('node-1'), { kind: SpanKind.INTERNAL, attributes: { 'ringblock.op': 'put', 'ringblock.replica.result': 'applied' } }, 'the local call');
  t.match(byPeer.get('node-2'), { kind: SpanKind.CLIENT, attributes: { 'server.address': '127.0.0.1', 'server.port': 2, 'ringblock.replica.result': 'applied' }, status: { code: SpanStatusCode.UNSET } });
  t.match(byPeer.get('node-3'), { kind: SpanKind.CLIENT, attributes: { 'error.type': 'UNREACHABLE' }, status: { code: SpanStatusCode.ERROR, message: 'peer node-3: connection refused' } }, 'the failed call is an error');
  t.ok(byPeer.get('node-3')!.events.some((event) => event.name === 'exception'), 'with its exception');
});
