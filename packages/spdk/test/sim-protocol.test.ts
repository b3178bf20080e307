// spdk-sim's transport and JSON-RPC layer over a raw socket (RPC.md §1): streaming framing,
// pipelining and out-of-order replies, envelope errors, notifications, strict params, parse errors
// closing the connection, the receive-buffer bound, EOF, batches, framework states, the 64-connection cap.
import t from 'tap';
import { RawConnection, sleep, startSim } from './helpers.js';

const INVALID_REQUEST = { jsonrpc: '2.0', id: null, error: { code: -32600, message: 'Invalid request' } };

t.test('pipelined, pretty-printed, split requests; one compact line per reply in key order', async (t) => {
  const { sim } = await startSim(t);
  const raw = await RawConnection.open(t, sim.sock);
  raw.write('{\n  "jsonrpc": "2.0",\n  "method": "spdk_get_version",\n  "id": "a"\n}\n  {"method":"bdev_get_bdevs","id":2}');
  const split = Buffer.from('{"jsonrpc":"2.0","method":"bdev_wait_for_examine","id":3.5}');
  for (let offset = 0; offset < split.length; offset += 7) {
    raw.write(split.subarray(offset, offset + 7));
    await sleep(2);
  }
  const replies = await raw.replies(3);
  t.same(replies, [
    { jsonrpc: '2.0', id: 'a', result: { version: 'SPDK v26.09-pre git sha1 3230130e6', fields: { major: 26, minor: 9, patch: 0, suffix: '-pre', commit: '3230130e6' } } },
    { jsonrpc: '2.0', id: 2, result: [] },
    { jsonrpc: '2.0', id: 3.5, result: true },
  ]);
  t.match(raw.lines[0], /^\{"jsonrpc":"2\.0","id":"a","result":/, 'key order jsonrpc, id, result');
  t.ok(raw.lines.every((line) => !line.includes('\n') && !line.includes(': ')), 'compact lines');
});

t.test('replies come out of order when a handler takes longer (match on id)', async (t) => {
  const { sim, control } = await startSim(t);
  await control.simInjectDelay({ method: 'bdev_get_bdevs', ms: 150, count: 1 });
  const raw = await RawConnection.open(t, sim.sock);
  raw.write('{"method":"bdev_get_bdevs","id":1}{"method":"spdk_get_version","id":2}');
  const replies = (await raw.replies(2)) as { id: number }[];
  t.same(
    replies.map((reply) => reply.id),
    [2, 1],
  );
});

t.test('envelope violations answer Invalid request with a null id (RPC.md §1.3)', async (t) => {
  const { sim } = await startSim(t);
  const raw = await RawConnection.open(t, sim.sock);
  const bad = [
    '{"jsonrpc":"1.0","method":"spdk_get_version","id":1}',
    '{"method":5,"id":1}',
    '{"id":1}',
    '{"method":"spdk_get_version","id":{}}',
    '{"method":"spdk_get_version","id":[1]}',
    '{"method":"spdk_get_version","id":true}',
    '{"method":"spdk_get_version","id":1,"extra":1}',
    '{"method":"spdk_get_version","id":1,"id":2}',
    '{"method":"bdev_get_bdevs","id":1,"params":"x"}',
    '"hello"',
    '42 ',
  ];
  for (const request of bad) t.same(await raw.call(request), INVALID_REQUEST, request);
  t.same(await raw.call('{"method":"spdk_get_version","id":"x","params":null}'), { jsonrpc: '2.0', id: 'x', result: (await raw.call('{"method":"spdk_get_version","id":"x"}') as { result: unknown }).result }, 'params null = absent');
  t.same(await raw.call('{"method":"nope","id":9}'), { jsonrpc: '2.0', id: 9, error: { code: -32601, message: 'Method not found' } });
});

t.test('notifications: success suppressed, errors sent with a null id', async (t) => {
  const { sim } = await startSim(t);
  const raw = await RawConnection.open(t, sim.sock);
  raw.write('{"method":"spdk_get_version"}{"method":"spdk_get_version","id":null}{"method":"nope"}{"method":"bdev_get_bdevs","id":1,"params":{"name":"x"}}');
  const replies = await raw.replies(2);
  t.same(replies, [
    { jsonrpc: '2.0', id: null, error: { code: -32601, message: 'Method not found' } },
    { jsonrpc: '2.0', id: 1, error: { code: -19, message: 'No such device' } },
  ]);
  await sleep(30);
  t.equal(raw.lines.length, 2, 'nothing else');
});

t.test('strict and relaxed parameter decoding (RPC.md §1.5)', async (t) => {
  const { sim } = await startSim(t);
  const raw = await RawConnection.open(t, sim.sock);
  const error = (code: number, message: string): object => ({ error: { code, message } });
  const rows: [string, object][] = [
    ['{"method":"bdev_get_bdevs","id":1,"params":{"name":"x","bogus":1}}', error(-32603, 'spdk_json_decode_object failed')],
    ['{"method":"bdev_get_bdevs","id":1,"params":{"name":"x","name":"y"}}', error(-32603, 'spdk_json_decode_object failed')],
    ['{"method":"bdev_get_bdevs","id":1,"params":["x"]}', error(-32603, 'spdk_json_decode_object failed')],
    ['{"method":"bdev_lvol_create","id":1,"params":{"lvol_name":"v","size_in_mib":"4096","lvs_name":"l"}}', error(-32603, 'spdk_json_decode_object failed')],
    ['{"method":"bdev_lvol_create","id":1,"params":{"lvol_name":"v","lvs_name":"l"}}', error(-32603, 'spdk_json_decode_object failed')],
    ['{"method":"bdev_lvol_create","id":1}', error(-32603, 'spdk_json_decode_object failed')],
    ['{"method":"bdev_examine","id":1,"params":{}}', error(-32602, 'spdk_json_decode_object failed')],
    ['{"method":"bdev_examine","id":1,"params":{"name":"x"}}', error(-22, 'Invalid argument')],
    ['{"method":"bdev_get_iostat","id":1,"params":{"name":"x"}}', error(-32603, 'spdk_json_decode_object failed')],
    ['{"method":"bdev_get_iostat","id":1,"params":{"reset_mode":"sometimes"}}', error(-32603, 'spdk_json_decode_object failed')],
    ['{"method":"nvmf_create_subsystem","id":1,"params":{"nqn":"nqn.2016-06.io.spdk:a","bogus":1}}', error(-32602, 'Invalid parameters')],
    ['{"method":"nvmf_create_transport","id":1,"params":{"trtype":"tcp","bogus":1}}', { result: true }],
    ['{"method":"nvmf_create_transport","id":1,"params":{"trtype":"rdma","max_queue_depth":70000}}', error(-32602, 'Invalid parameters')],
    ['{"method":"nvmf_get_subsystems","id":1,"params":{"tgt_name":"other"}}', error(-32602, 'Unable to find a target.')],
    ['{"method":"bdev_nvme_get_controller_health_info","id":1}', error(-32603, 'Missing device name')],
    ['{"method":"bdev_nvme_get_controller_health_info","id":1,"params":{"nm":"x"}}', error(-32603, 'Invalid parameters')],
    ['{"method":"bdev_nvme_attach_controller","id":1,"params":{"name":"N","trtype":"PCIe","traddr":"0000:00:04.0","multipath":"yes"}}', error(-32603, 'spdk_json_decode_object failed')],
    ['{"method":"spdk_get_version","id":1,"params":{}}', error(-32602, 'spdk_get_version method requires no parameters')],
    ['{"method":"bdev_wait_for_examine","id":1,"params":{}}', error(-32602, 'bdev_wait_for_examine requires no parameters')],
    ['{"method":"framework_wait_init","id":1,"params":{"anything":1}}', { result: true }],
    ['{"method":"rpc_get_methods","id":1,"params":{"current":1}}', error(-32602, 'Invalid parameters')],
    ['{"method":"framework_start_init","id":1}', error(-1, 'Method may only be called before framework is initialized. Use --wait-for-rpc command line parameter and then issue this RPC before the framework_start_init RPC.')],
  ];
  for (const [request, expected] of rows) t.match(await raw.call(request), { id: 1, ...expected }, request);
});

t.test('malformed JSON: Parse error with a null id, then the connection is closed', async (t) => {
  const { sim } = await startSim(t);
  const raw = await RawConnection.open(t, sim.sock);
  raw.write('{"method":"spdk_get_version","id":1} {"method" 1} {"method":"spdk_get_version","id":2}');
  await raw.closed;
  const replies = raw.lines.map((line) => JSON.parse(line) as { id: unknown });
  t.same(
    replies.map((reply) => reply.id),
    [1, null],
    'the request before is answered, the one after is not',
  );
  t.same(replies[1], { jsonrpc: '2.0', id: null, error: { code: -32700, message: 'Parse error' } });
});

t.test('a request beyond the 256 KiB receive buffer drops the connection', async (t) => {
  const { sim } = await startSim(t);
  const raw = await RawConnection.open(t, sim.sock);
  raw.write(`{"method":"bdev_get_bdevs","id":1,"params":{"name":"${'x'.repeat(300 * 1024)}"}}`);
  await raw.closed;
  t.equal(raw.lines.length, 0, 'no reply');
  const fits = await RawConnection.open(t, sim.sock);
  t.match(await fits.call(`{"method":"bdev_get_bdevs","id":1,"params":{"name":"${'x'.repeat(200 * 1024)}"}}`), { error: { code: -19 } }, '200 KiB fits');
});

t.test('after the client half-closes, replies completing later are dropped', async (t) => {
  const { sim, control } = await startSim(t);
  await control.simInjectDelay({ method: 'spdk_get_version', ms: 100, count: 1 });
  const raw = await RawConnection.open(t, sim.sock);
  raw.socket.end('{"method":"spdk_get_version","id":1}');
  await raw.closed;
  t.equal(raw.lines.length, 0);
});

t.test('batches: executed as one array reply (v26.05+), or rejected as older targets do', async (t) => {
  const { sim } = await startSim(t);
  const raw = await RawConnection.open(t, sim.sock);
  t.same(await raw.call('[{"method":"spdk_get_version","id":1,"params":{}},{"method":"bdev_wait_for_examine"},{"bad":1},{"method":"bdev_get_bdevs","id":2}]'), [
    { jsonrpc: '2.0', id: 1, error: { code: -32602, message: 'spdk_get_version method requires no parameters' } },
    INVALID_REQUEST,
    { jsonrpc: '2.0', id: 2, result: [] },
  ]);
  t.same(await raw.call('[]'), INVALID_REQUEST, 'an empty batch is one error');
  const legacy = await startSim(t, { batches: 'reject' });
  const old = await RawConnection.open(t, legacy.sim.sock);
  t.same(await old.call('[{"method":"bdev_get_bdevs","id":2}]'), INVALID_REQUEST);
});

t.test('--wait-for-rpc: STARTUP until framework_start_init (RPC.md §1.6)', async (t) => {
  const { api } = await startSim(t, { waitForRpc: true });
  await t.rejects(api.bdevGetBdevs(), { code: -1, message: 'Method may only be called after framework is initialized using framework_start_init RPC.' });
  t.match(await api.spdkGetVersion(), { version: /^SPDK v26\.09-pre/ });
  const current = await api.rpcGetMethods({ current: true });
  t.ok(current.includes('framework_start_init') && !current.includes('bdev_get_bdevs'), 'current = callable now');
  let ready = false;
  const waiting = api.frameworkWaitInit().then(() => (ready = true));
  await sleep(30);
  t.notOk(ready, 'framework_wait_init waits');
  t.equal(await api.frameworkStartInit(), true);
  await waiting;
  t.same(await api.bdevGetBdevs(), []);
  const all = await api.rpcGetMethods();
  t.ok(all.includes('bdev_lvol_create') && all.includes('nvmf_subsystem_add_ns') && all.includes('sim_inject_fault'));
});

t.test('at most 64 connections are served; the 65th waits unanswered', async (t) => {
  const { sim } = await startSim(t);
  const connections = await Promise.all(Array.from({ length: 64 }, () => RawConnection.open(t, sim.sock)));
  const extra = await RawConnection.open(t, sim.sock);
  extra.write('{"method":"spdk_get_version","id":65}');
  await sleep(50);
  t.equal(extra.lines.length, 0, 'connected, but not answered');
  connections[0]!.socket.destroy();
  t.match((await extra.replies(1))[0], { id: 65 }, 'answered once a slot frees');
});
