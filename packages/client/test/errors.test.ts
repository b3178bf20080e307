// Typed errors: what the client refuses before sending, and how each documented error answer of a
// node (DESIGN §2) reaches the caller — stable code, status, details — against fake nodes.
import { randomBytes } from 'node:crypto';
import t from 'tap';
import { ArgumentError, RingblockClient, ServerError, TransportError, UnavailableError } from '../src/index.js';
import { clientFor, sendError, startFakeCluster } from './support/fake-node.js';

t.test('bad ids, sizes, levels and options are refused before anything is sent', async (t) => {
  const { nodes } = await startFakeCluster(t, 1);
  const node = nodes[0]!;
  const client = await clientFor(t, [node], { retries: 0 });
  const block = randomBytes(4096);
  const refusals: [string, () => Promise<unknown>, string][] = [
    ['empty id', () => client.get(''), 'BAD_ID'],
    ['id with a slash', () => client.put('a/b', block), 'BAD_ID'],
    ['id with a space', () => client.head('a b'), 'BAD_ID'],
    ['id "."', () => client.delete('.'), 'BAD_ID'],
    ['id of 256 bytes', () => client.get('x'.repeat(256)), 'BAD_ID'],
    ['non-ASCII id', () => client.get('blöck'), 'BAD_ID'],
    ['4095 bytes', () => client.put('short', randomBytes(4095)), 'BLOCK_SIZE'],
    ['4097 bytes', () => client.put('long', randomBytes(4097)), 'BLOCK_SIZE'],
    ['not bytes', () => client.put('text', 'x'.repeat(4096) as unknown as Uint8Array), 'BLOCK_SIZE'],
    ['bad level', () => client.get('ok', { consistency: 'most' as 'one' }), 'BAD_CONSISTENCY'],
    ['bad timeout', () => client.get('ok', { timeoutMs: 0 }), 'BAD_OPTION'],
  ];
  for (const [name, call, code] of refusals) {
    await t.rejects(call(), { constructor: ArgumentError, code }, name);
  }
  t.same(node.seen, [], 'no request reached the node');
  t.ok(await client.put('x'.repeat(255), block), 'a 255-byte id is fine');

  for (const options of [{ nodes: [] }, { nodes: ['ftp://host:1'] }, { nodes: ['http://h:1/path'] }, { nodes: ['h:1'], retries: 11 }, { nodes: ['h:1'], connectionsPerNode: 0 }]) {
    await t.rejects(RingblockClient.create(options), { constructor: ArgumentError, code: 'BAD_OPTION' }, JSON.stringify(options));
  }
});

t.test('error answers become typed errors with the node’s code', async (t) => {
  const { nodes } = await startFakeCluster(t, 1);
  const node = nodes[0]!;
  const client = await clientFor(t, [node], { retries: 0 });
  const block = randomBytes(4096);

  const answers: [number, string, Record<string, unknown>][] = [
    [400, 'BLOCK_SIZE', {}],
    [413, 'BLOCK_SIZE', {}],
    [400, 'BAD_ID', {}],
    [507, 'INSUFFICIENT_STORAGE', { required: 2, acked: 1 }],
    [500, 'INTERNAL', {}],
    [418, 'SOMETHING_NEW', { extra: true }],
  ];
  for (const [status, code, details] of answers) {
    node.fault = (_seen, res) => (sendError(res, status, code, details), true);
    const error = (await client.put('b', block).catch((caught: unknown) => caught)) as ServerError;
    t.type(error, ServerError, `${status} ${code}`);
    t.match(error, { code, status, node: node.origin, details, attempts: 1 });
  }

  node.fault = (_seen, res) => (sendError(res, 503, 'UNAVAILABLE', { required: 2, acked: 1 }), true);
  const unavailable = (await client.put('b', block).catch((caught: unknown) => caught)) as UnavailableError;
  t.type(unavailable, UnavailableError);
  t.match(unavailable, { code: 'UNAVAILABLE', status: 503, required: 2, acked: 1 });

  node.fault = (_seen, res) => {
    res.writeHead(502, { 'content-type': 'text/html' });
    res.end('<html>bad gateway</html>');
    return true;
  };
  t.match(await client.get('b').catch((caught: unknown) => caught), { constructor: ServerError, code: 'HTTP_502', status: 502 }, 'a non-JSON answer gets a code from its status');

  node.fault = (seen, res) => {
    if (seen.method !== 'HEAD') return false;
    res.writeHead(507, { 'content-length': 10 });
    res.end();
    return true;
  };
  t.match(await client.head('b').catch((caught: unknown) => caught), { code: 'INSUFFICIENT_STORAGE', status: 507 }, 'HEAD errors have no body: code from the status');

  node.fault = (seen, res) => {
    if (seen.method !== 'GET') return false;
    res.writeHead(200, { etag: '"v1"', 'content-length': 100 });
    res.end(Buffer.alloc(100));
    return true;
  };
  t.match(await client.get('b').catch((caught: unknown) => caught), { constructor: TransportError, code: 'BAD_RESPONSE' }, 'a GET body that is not 4096 bytes');
});

t.test('NOT_FOUND is an undefined result, not an error', async (t) => {
  const { nodes } = await startFakeCluster(t, 1);
  const client = await clientFor(t, [nodes[0]!], { retries: 0 });
  t.equal(await client.get('missing'), undefined);
  t.equal(await client.head('missing'), undefined);
  const put = await client.put('present', randomBytes(4096));
  t.same(await client.head('present'), { version: put.version });
  const deleted = await client.delete('present');
  t.type(deleted.version, 'string');
  t.equal(await client.get('present'), undefined, 'a deleted block reads as undefined');
  t.ok(await client.delete('never-written'), 'deleting what never existed succeeds');
});

t.test('a closed client refuses calls', async (t) => {
  const { nodes } = await startFakeCluster(t, 1);
  const client = await clientFor(t, [nodes[0]!], { retries: 0 });
  await client.close();
  await t.rejects(client.get('a'), { constructor: TransportError, code: 'CLOSED' });
});
