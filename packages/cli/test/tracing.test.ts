// Traces (DESIGN §10) from a real 3-node cluster (RF 3) to a real OTLP gRPC receiver in this process:
// a PUT through node-1 is one trace holding node-1's server span, its replica calls (the local one
// with its engine write and fdatasync, a client span per peer), and each peer's server span as the
// child of node-1's client span for it, with the peer's own engine spans below. A GET is traced the
// same way, a request without traceparent starts a new trace, and a 404 is recorded as an error.
// The off path (no OTEL_* variables) is tested at unit level in packages/node/test/tracing.test.ts.
import { randomBytes } from 'node:crypto';
import t from 'tap';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { eventually, putBlock, randomBlock, request, startCluster } from './support/cluster.js';
import { decodeExportTraceServiceRequest, OtlpReceiver, type ReceivedSpan } from './support/otlp.js';

const NODES = ['node-1', 'node-2', 'node-3'];

function traceparent(): { header: string; traceId: string; parentId: string } {
  const traceId = randomBytes(16).toString('hex');
  const parentId = randomBytes(8).toString('hex');
  return { header: `00-${traceId}-${parentId}-01`, traceId, parentId };
}

const nodeOf = (span: ReceivedSpan) => span.resource['service.instance.id'];
const childrenOf = (spans: readonly ReceivedSpan[], parent: ReceivedSpan) => spans.filter((span) => span.parentSpanId === parent.spanId);

t.test('the receiver decodes what the OTLP exporter\'s own serializer encodes', async (t) => {
  type Spans = Parameters<typeof ProtobufTraceSerializer.serializeRequest>[0];
  const span = {
    name: 'PUT /block/{id}',
    kind: 1,
    spanContext: () => ({ traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', traceFlags: 1 }),
    parentSpanContext: { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: '00f067aa0ba902b7', traceFlags: 1, isRemote: true },
    startTime: [1_700_000_000, 5] as [number, number],
    endTime: [1_700_000_001, 7] as [number, number],
    status: { code: 2, message: 'UNAVAILABLE: only 1 of the 2 replicas needed answered' },
    attributes: { text: 'a', count: 201, negative: -3, ratio: 0.5, yes: true, list: ['x', 'y'] },
    links: [],
    events: [{ name: 'exception', time: [1_700_000_000, 9] as [number, number], attributes: { 'exception.message': 'boom' } }],
    duration: [1, 2] as [number, number],
    ended: true,
    resource: { attributes: { 'service.name': 'ringblock', 'service.instance.id': 'node-1' }, asyncAttributesPending: false, schemaUrl: undefined, getRawAttributes: () => [], merge: () => undefined, waitForAsyncAttributes: async () => undefined },
    instrumentationScope: { name: 'ringblock', version: '0.1.0' },
    droppedAttributesCount: 0,
    droppedEventsCount: 0,
    droppedLinksCount: 0,
  };
  const bytes = ProtobufTraceSerializer.serializeRequest([span] as unknown as Spans)!;
  const [decoded] = decodeExportTraceServiceRequest(bytes);
  t.match(decoded, {
    traceId: '0af7651916cd43dd8448eb211c80319c',
    spanId: 'b7ad6b7169203331',
    parentSpanId: '00f067aa0ba902b7',
    name: 'PUT /block/{id}',
    kind: 'server',
    startNs: 1_700_000_000_000_000_005n,
    endNs: 1_700_000_001_000_000_007n,
    status: { code: 'error', message: 'UNAVAILABLE: only 1 of the 2 replicas needed answered' },
    resource: { 'service.name': 'ringblock', 'service.instance.id': 'node-1' },
    scope: 'ringblock',
    events: [{ name: 'exception', attributes: { 'exception.message': 'boom' } }],
  });
  t.same(decoded!.attributes, { text: 'a', count: 201, negative: -3, ratio: 0.5, yes: true, list: ['x', 'y'] }, 'every attribute type');
});

t.test('a traced cluster exports one trace per request, across the nodes that took part', async (t) => {
  const receiver = await OtlpReceiver.start();
  // Registered first, so it runs last (tap tears down in reverse): the nodes flush on stop.
  t.teardown(() => receiver.close());
  const cluster = await startCluster(t, { env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint, OTEL_BSP_SCHEDULE_DELAY: '100' } });
  const [url] = cluster.nodes.map((node) => node.spec.url);
  const portOf = new Map(cluster.nodes.map((node) => [node.spec.name, Number(new URL(node.spec.url).port)]));

  await t.test('a PUT through node-1: its spans, a client span per peer, each peer continuing the trace', async (t) => {
    const caller = traceparent();
    const put = await request(`${url}/block/traced-put`, { method: 'PUT', body: randomBlock(), headers: { traceparent: caller.header } });
    t.equal(put.status, 201);
    // Complete: node-1's server span, its three replica calls, both peers' server spans, and the
    // engine put + sync under each of the three replicas' writes.
    const spans = await eventually('the PUT\'s spans from all three nodes', async () => {
      const found = receiver.trace(caller.traceId);
      return found.filter((span) => span.name === 'engine.sync').length === 3 && found.filter((span) => span.name === 'PUT /internal/block/{id}').length === 2 ? found : undefined;
    });
    t.same(receiver.failures, [], 'every export decoded');
    t.same([...new Set(spans.map(nodeOf))].sort(), NODES, 'spans from node-1 and from both replicas');
    t.ok(spans.every((span) => span.resource['service.name'] === 'ringblock' && span.resource['ringblock.cluster'] === 'default'), 'service name and cluster on every resource');

    const server = spans.filter((span) => span.kind === 'server' && nodeOf(span) === 'node-1');
    t.equal(server.length, 1, 'one server span on node-1');
    const root = server[0]!;
    t.match(root, {
      name: 'PUT /block/{id}',
      parentSpanId: caller.parentId,
      attributes: { 'http.request.method': 'PUT', 'http.route': '/block/{id}', 'http.response.status_code': 201, 'ringblock.consistency': 'quorum', 'ringblock.node': 'node-1', 'ringblock.block.id': 'traced-put' },
      status: { code: 'unset' },
    }, 'node-1\'s server span continues the caller\'s trace');

    const calls = childrenOf(spans, root).filter((span) => span.name === 'replica.put');
    t.same(calls.map((span) => span.attributes['ringblock.peer']).sort(), NODES, 'a replica call per owner');
    for (const call of calls) {
      const peer = String(call.attributes['ringblock.peer']);
      t.equal(nodeOf(call), 'node-1', `the call to ${peer} is node-1's`);
      t.equal(call.attributes['ringblock.replica.result'], 'applied', `${peer} applied the write`);
      t.equal(call.status.code, 'unset', `the call to ${peer} did not fail`);
      const engine = peer === 'node-1' ? childrenOf(spans, call) : childrenOf(spans, childrenOf(spans, call)[0] ?? call);
      if (peer === 'node-1') {
        t.equal(call.kind, 'internal', 'the local write is an internal span');
      } else {
        t.equal(call.kind, 'client', `the call to ${peer} is a client span`);
        t.match(call.attributes, { 'server.address': '127.0.0.1', 'server.port': portOf.get(peer) }, `with ${peer}'s address`);
        const received = childrenOf(spans, call);
        t.equal(received.length, 1, `${peer} continued the trace from the client span`);
        t.match(received[0], { name: 'PUT /internal/block/{id}', kind: 'server', attributes: { 'http.response.status_code': 200, 'ringblock.node': peer, 'ringblock.block.id': 'traced-put' } }, `${peer}'s server span`);
        t.equal(nodeOf(received[0]!), peer, `exported by ${peer}`);
      }
      const put = engine.find((span) => span.name === 'engine.put');
      t.ok(put && nodeOf(put) === peer, `${peer}'s engine write`);
      const sync = put ? childrenOf(spans, put).find((span) => span.name === 'engine.sync') : undefined;
      t.ok(sync && sync.endNs >= sync.startNs && sync.startNs >= put!.startNs - 5_000_000n, `${peer}: the fdatasync the write waited for, inside it`);
    }
    const known = new Set([caller.parentId, ...spans.map((span) => span.spanId)]);
    t.ok(spans.every((span) => known.has(span.parentSpanId)), 'no span of the trace has a parent outside it');
  });

  await t.test('a GET through node-1: its server span and the replicas it read', async (t) => {
    const caller = traceparent();
    const got = await request(`${url}/block/traced-put`, { headers: { traceparent: caller.header } });
    t.equal(got.status, 200);
    const spans = await eventually('the GET\'s spans', async () => {
      const found = receiver.trace(caller.traceId);
      return found.some((span) => span.name === 'GET /block/{id}') && found.some((span) => span.name === 'GET /internal/block/{id}') ? found : undefined;
    });
    const root = spans.find((span) => span.name === 'GET /block/{id}')!;
    t.match(root, { kind: 'server', parentSpanId: caller.parentId, attributes: { 'http.response.status_code': 200, 'ringblock.consistency': 'quorum' } });
    t.equal(nodeOf(root), 'node-1');
    const reads = childrenOf(spans, root).filter((span) => span.name === 'replica.get');
    t.ok(reads.some((span) => span.attributes['ringblock.peer'] === 'node-1' && span.kind === 'internal'), 'node-1 read its own copy');
    const remote = reads.filter((span) => span.kind === 'client');
    t.ok(remote.length >= 1, 'and at least one peer\'s (quorum)');
    for (const call of remote) {
      const received = await eventually(`the server span of ${call.attributes['ringblock.peer']}`, async () => childrenOf(receiver.trace(caller.traceId), call)[0]);
      t.match(received, { name: 'GET /internal/block/{id}', kind: 'server', attributes: { 'http.response.status_code': 200 } });
      t.equal(nodeOf(received), call.attributes['ringblock.peer'], 'exported by the peer that was read');
    }
  });

  await t.test('without traceparent a request starts its own trace; a 404 is an error span', async (t) => {
    t.equal((await putBlock(url!, 'untraced-caller', randomBlock())).status, 201);
    const root = await eventually('the server span of the PUT', async () => receiver.spans.find((span) => span.attributes['ringblock.block.id'] === 'untraced-caller' && span.name === 'PUT /block/{id}'));
    t.equal(root.parentSpanId, '', 'a root span');
    const peers = await eventually('the peers\' spans in that trace', async () => {
      const names = new Set(receiver.trace(root.traceId).filter((span) => span.kind === 'server').map(nodeOf));
      return names.size === 3 ? names : undefined;
    });
    t.same([...peers].sort(), NODES, 'every replica continued the new trace');

    const caller = traceparent();
    t.equal((await request(`${url}/block/never-written`, { headers: { traceparent: caller.header } })).status, 404);
    const missing = await eventually('the 404\'s span', async () => receiver.trace(caller.traceId).find((span) => span.name === 'GET /block/{id}'));
    t.match(missing, { status: { code: 'error', message: /^NOT_FOUND: / }, attributes: { 'http.response.status_code': 404, 'error.type': 'NOT_FOUND' } });
    t.notOk(receiver.spans.some((span) => /^(GET|POST) \/(ready|live|health|metrics|cluster)/.test(span.name)), 'status and metrics routes are not traced');
  });
});
