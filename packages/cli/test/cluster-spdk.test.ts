// End to end on spdk-sim (DESIGN §8): `ringblock up --backing spdk-sim` — a 3-node cluster whose
// devices are lvols of an spdk-sim target, provisioned and exported by a real storage agent process
// through volume records in a real ZooKeeper. Volumes reach `attached`, blocks are stored on them, an
// SSE client follows a new node's volume from creation to attachment, the volume API refuses what its
// state machine refuses, a resize grows the engine, and restarting the agent changes nothing. Where
// losetup works here each peer runs on a loop device over its lvol's file (a real block device, as
// /dev/nvmeXnY is in production): a killed peer comes back on the same one, and none outlives the cluster.
import t from 'tap';
import { LoopAttacher, parseLoopList, SpdkApi, SpdkRpcClient, type VolumeRecord, type VolumeTransitionRecord } from '@ringblock/spdk';
import { execFileSync } from 'node:child_process';
import { eventually, getBlock, putBlock, randomBlock, request, startCluster } from './support/cluster.js';
import { checkDocumented, openApiDocument } from './support/openapi.js';

const SSE_TIMEOUT_MS = 60_000;

interface SseEvent {
  event: string;
  id?: string;
  data: unknown;
}

/** Reads Server-Sent Events until `until` accepts one (or the stream ends); bounded in time. */
async function readEvents(url: string, until: (event: SseEvent) => boolean): Promise<{ contentType: string | null; events: SseEvent[] }> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), SSE_TIMEOUT_MS);
  const events: SseEvent[] = [];
  try {
    const response = await fetch(url, { signal: controller.signal });
    if (response.status !== 200) throw new Error(`${url} answered ${response.status}: ${await response.text()}`);
    const contentType = response.headers.get('content-type');
    const decoder = new TextDecoder();
    let buffered = '';
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      buffered += decoder.decode(chunk, { stream: true });
      let end: number;
      while ((end = buffered.indexOf('\n\n')) >= 0) {
        const block = buffered.slice(0, end);
        buffered = buffered.slice(end + 2);
        if (block.startsWith(':')) continue;
        const fields = Object.fromEntries(block.split('\n').map((line) => [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 2)]));
        const event: SseEvent = { event: fields['event'] ?? 'message', ...(fields['id'] ? { id: fields['id'] } : {}), data: JSON.parse(fields['data'] ?? 'null') };
        events.push(event);
        if (until(event)) return { contentType, events };
      }
    }
    return { contentType, events };
  } finally {
    clearTimeout(timer);
    controller.abort();
  }
}

interface Health {
  device: { path: string; capacityBytes: number };
  backing: Record<string, unknown>;
}

/** The loop devices over a file, as losetup lists them. */
function loopsOver(file: string): string[] {
  const list = parseLoopList(execFileSync('losetup', ['--list', '--json', '--output', 'NAME,BACK-FILE'], { encoding: 'utf8' }));
  return list.filter((loop) => loop.backFile === file).map((loop) => loop.name);
}

t.test('a cluster on spdk-sim volumes', async (t) => {
  const viaLoop = await new LoopAttacher().usable();
  t.comment(viaLoop ? 'peers attach through loop devices' : 'losetup is not usable here: peers open the lvol files');
  const cluster = await startCluster(t, { backing: 'spdk-sim', env: { RINGBLOCK_DOWN_GRACE: '60s' } });
  const [one, two, three] = cluster.nodes;
  const url = one!.spec.url;
  const auth = { authorization: `Bearer ${cluster.token}` };
  const volumes = async () => (await request(`${url}/volumes`)).json<{ volumes: VolumeRecord[] }>().volumes;

  await t.test('every peer runs on its attached, exported volume', async (t) => {
    const list = await volumes();
    t.same(list.map((volume) => [volume.name, volume.fsm.state]), [['node-1', 'attached'], ['node-2', 'attached'], ['node-3', 'attached']]);
    const rpc = new SpdkRpcClient({ socketPath: cluster.spdkSock, callTimeoutMs: 5_000 });
    t.teardown(() => rpc.close());
    const subsystems = await new SpdkApi(rpc).nvmfGetSubsystems();
    for (const volume of list) {
      t.match(subsystems.find((subsystem) => subsystem.nqn === volume.export?.nqn), { namespaces: [{ uuid: volume.lvol!.uuid }] }, `${volume.name} exported in SPDK`);
      const node = cluster.node(volume.name);
      const health = (await request(`${node.spec.url}/health`)).json<Health>();
      t.match(health.backing, { kind: 'spdk', volume: volume.name, state: 'attached', attachedVia: viaLoop ? 'loop' : 'file', nqn: volume.export!.nqn, nsid: volume.export!.nsid, device: health.device.path });
      if (viaLoop) t.same(loopsOver(volume.simFile!), [health.device.path], `${volume.name} opened its engine on a loop device over the lvol's data`);
      else t.equal(health.device.path, volume.simFile, `${volume.name} opened its engine on the lvol's data`);
    }
  });

  await t.test('blocks written through one node read back through the others', async (t) => {
    const blocks = Array.from({ length: 20 }, (_, index) => ({ id: `spdk-${index}`, data: randomBlock() }));
    for (const block of blocks) t.equal((await putBlock(url, block.id, block.data)).status, 201);
    for (const block of blocks) {
      const reply = await getBlock((block.id.endsWith('1') ? two : three)!.spec.url, block.id);
      if (!reply.body.equals(block.data)) t.fail(`${block.id} read back different bytes`);
    }
    t.pass('every block read back identical');
  });

  await t.test("an SSE client sees a new node's volume from creation to attachment", async (t) => {
    const adding = cluster.addNode('node-4');
    await eventually('the node-4 volume record', async () => (await request(`${url}/volumes/node-4`)).status === 200, 30_000, 50);
    const { contentType, events } = await readEvents(`${url}/volumes/node-4/events?after=-1`, (event) => event.event === 'transition' && (event.data as VolumeTransitionRecord).to === 'attached');
    t.match(contentType, /^text\/event-stream/);
    t.equal(events[0]?.event, 'state', 'the current state first');
    t.same(events.filter((event) => event.event === 'transition').map((event) => `${(event.data as VolumeTransitionRecord).from}→${(event.data as VolumeTransitionRecord).to}`), [
      'pending→creating', 'creating→available', 'available→attaching', 'attaching→attached',
    ]);
    await adding;
    await cluster.waitSettled();
  });

  await t.test('a decommissioned peer detaches and deletes its volume when it stops', async (t) => {
    const four = cluster.node('node-4');
    const record = (await request(`${url}/volumes/node-4`)).json<VolumeRecord>();
    const reply = await request(`${url}/cluster/nodes/node-4/decommission`, { method: 'POST', headers: auth });
    t.equal(reply.status, 202);
    const { task } = reply.json<{ task: string }>();
    await eventually('the decommission', async () => (await request(`${url}/tasks/${task}`)).json<{ state: string }>().state === 'done', 60_000);
    await four.stop();
    t.equal(await four.waitExit(), 0, 'node-4 stopped cleanly');
    const after = (await request(`${url}/volumes/node-4`)).json<VolumeRecord>();
    t.equal(after.fsm.state, 'deleted');
    const rpc = new SpdkRpcClient({ socketPath: cluster.spdkSock, callTimeoutMs: 5_000 });
    t.teardown(() => rpc.close());
    const api = new SpdkApi(rpc);
    t.notOk((await api.bdevGetBdevs()).some((bdev) => bdev.uuid === record.lvol!.uuid), 'its lvol is gone from SPDK');
    t.notOk((await api.nvmfGetSubsystems()).some((subsystem) => subsystem.nqn === record.export!.nqn), 'and its subsystem');
    if (viaLoop) t.same(loopsOver(record.simFile!), [], 'and its loop device');
  });

  await t.test('the volume API: 409 for what the state machine refuses, 202 and a task for the rest', async (t) => {
    const refused = await request(`${url}/volumes/node-2`, { method: 'DELETE', headers: auth });
    t.equal(refused.status, 409);
    t.match(refused.json(), { code: 'INVALID_TRANSITION', state: 'attached' });
    t.equal((await request(`${url}/volumes/node-2`, { method: 'DELETE' })).status, 401, 'admin routes need the token');
    t.equal((await request(`${url}/volumes/node-2/resize`, { method: 'POST', headers: auth, body: JSON.stringify({ sizeMib: 32 }) })).status, 400, 'a volume does not shrink');
    t.equal((await request(`${url}/volumes/nope`)).status, 404);

    const before = (await request(`${two!.spec.url}/health`)).json<{ device: { capacityBytes: number } }>().device.capacityBytes;
    const resize = await request(`${url}/volumes/node-2/resize`, { method: 'POST', headers: auth, body: JSON.stringify({ sizeMib: 128 }) });
    t.equal(resize.status, 202);
    const { task } = resize.json<{ task: string }>();
    const done = await eventually('the resize task', async () => {
      const status = (await request(`${url}/tasks/${task}`)).json<{ state: string }>();
      return status.state === 'running' ? undefined : status;
    });
    t.match(done, { kind: 'volume', operation: 'resize', state: 'done', volumeState: 'attached' });
    const grown = await eventually('node-2 to grow its engine', async () => {
      const capacity = (await request(`${two!.spec.url}/health`)).json<{ device: { capacityBytes: number } }>().device.capacityBytes;
      return capacity > before ? capacity : undefined;
    });
    t.ok(grown > before * 1.5, `capacity ${before} → ${grown} bytes`);

    const reconcile = await request(`${url}/volumes/node-3/reconcile`, { method: 'POST', headers: auth });
    t.equal(reconcile.status, 202);
    t.match(reconcile.json(), { volume: 'node-3', observed: 'attached', state: 'attached' });
  });

  await t.test('volume routes and /health answer as /openapi.json documents', async (t) => {
    const document = await openApiDocument(url);
    const check = async (path: string, method: string, target: string, init: RequestInit = {}) => checkDocumented(t, document, path, method, await request(`${url}${target}`, { method: method.toUpperCase(), ...init }));
    const post = (body: unknown) => ({ headers: auth, body: JSON.stringify(body) });
    await check('/volumes', 'get', '/volumes');
    await check('/volumes/{name}', 'get', '/volumes/node-1');
    await check('/volumes/{name}', 'get', '/volumes/nope');
    await check('/volumes/{name}', 'delete', '/volumes/node-1', { headers: auth });
    await check('/volumes/{name}', 'delete', '/volumes/node-1');
    await check('/volumes/{name}/resize', 'post', '/volumes/node-1/resize', post({ sizeMib: 'big' }));
    await check('/volumes/{name}/snapshots', 'post', '/volumes/node-1/snapshots', post({ name: 'before-upgrade' }));
    await check('/volumes/{name}/snapshots', 'post', '/volumes/node-1/snapshots', post({ name: '../x' }));
    // The snapshot done (later subtests compare records across an agent restart).
    await eventually('the snapshot', async () => {
      const record = (await request(`${url}/volumes/node-1`)).json<VolumeRecord>();
      return record.fsm.state === 'attached' && record.snapshots?.includes('before-upgrade');
    });
    await check('/volumes/{name}/reconcile', 'post', '/volumes/node-1/reconcile', { headers: auth });
    await check('/volumes/{name}/events', 'get', '/volumes/no%20such/events');
    for (const node of cluster.nodes.filter((node) => node.running)) checkDocumented(t, document, '/health', 'get', await request(`${node.spec.url}/health`));
  });

  await t.test('restarting the storage agent changes nothing', async (t) => {
    const agent = cluster.services.find((service) => service.spec.name === 'storage-agent')!;
    const before = await volumes();
    await agent.kill();
    agent.start();
    await agent.waitReady();
    // Two healing passes after the restart (each looks at every volume and at SPDK).
    await eventually('two passes of the new agent', async () => (await request(`${agent.spec.url}/health`)).json<{ passes: number }>().passes >= 2, 30_000, 200);
    t.same([(await request(`${agent.spec.url}/live`)).status, (await request(`${agent.spec.url}/ready`)).status], [200, 200], 'the agent is live and ready (the probes of its DaemonSet)');
    const after = await volumes();
    t.same(after.map((volume) => [volume.name, volume.fsm.state, volume.lvol?.uuid, volume.updatedAt]), before.map((volume) => [volume.name, volume.fsm.state, volume.lvol?.uuid, volume.updatedAt]), 'same states, lvols, and not one record rewritten');
    const block = randomBlock();
    t.equal((await putBlock(url, 'after-agent-restart', block)).status, 201);
    t.ok((await getBlock(three!.spec.url, 'after-agent-restart')).body.equals(block));
  });

  await t.test('a killed peer comes back on its volume (the same loop device), its blocks intact', async (t) => {
    const block = randomBlock();
    t.equal((await putBlock(url, 'before-kill', block)).status, 201);
    const before = (await request(`${three!.spec.url}/health`)).json<Health>();
    await three!.kill();
    three!.start();
    await three!.waitReady();
    const after = (await request(`${three!.spec.url}/health`)).json<Health>();
    t.equal(after.device.path, before.device.path, 'same device');
    t.match(after.backing, { state: 'attached', attachedVia: viaLoop ? 'loop' : 'file' });
    const reply = await getBlock(three!.spec.url, 'before-kill', 'all');
    t.equal(reply.status, 200);
    t.ok(reply.body.equals(block), 'read back identical at consistency all');
  });

  await t.test('no loop device outlives the cluster', { skip: !viaLoop && 'losetup is not usable here' }, async (t) => {
    const files = (await volumes()).map((volume) => volume.simFile!);
    await one!.stop();
    t.same(loopsOver(files[0]!), [], 'a peer stopping detaches its own');
    await cluster.stop();
    t.same(files.flatMap(loopsOver), [], 'the cluster detaches what killed peers left');
  });
});
