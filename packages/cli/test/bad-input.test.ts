// Bad input gets the exact status and code of DESIGN §2, the node stays healthy, and memory does not
// grow with the size of rejected bodies.
import t from 'tap';
import { connect, type Socket } from 'node:net';
import { getBlock, putBlock, randomBlock, request, startCluster } from './support/cluster.js';

/** Sends raw bytes on a fresh connection and returns everything the server answers until it closes. */
function raw(port: number, chunks: (string | Buffer)[], options: { keepWriting?: number; timeoutMs?: number } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket: Socket = connect({ host: '127.0.0.1', port });
    let answer = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no close within ${options.timeoutMs ?? 10_000} ms; got: ${answer.slice(0, 200)}`));
    }, options.timeoutMs ?? 10_000);
    socket.on('data', (data) => (answer += data.toString('latin1')));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(answer);
    });
    socket.on('connect', () => {
      for (const chunk of chunks) socket.write(chunk);
      // Keep streaming body bytes (bounded) to show the server stops reading rather than buffering.
      let left = options.keepWriting ?? 0;
      const more = () => {
        while (left > 0 && !socket.destroyed) {
          left -= 65536;
          if (!socket.write(Buffer.alloc(65536, 1))) return socket.once('drain', more);
        }
      };
      more();
    });
  });
}

const statusOf = (answer: string) => Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1]);
const jsonOf = (answer: string) => JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)) as { code: string };

t.test('bad input is refused with the status and code of the contract', async (t) => {
  const cluster = await startCluster(t, { nodes: 1, env: { RINGBLOCK_HEADERS_TIMEOUT: '1500ms' } });
  const url = cluster.nodes[0]!.spec.url;
  const port = Number(new URL(url).port);

  await t.test('body sizes', async (t) => {
    for (const size of [0, 4095]) {
      const reply = await putBlock(url, `size-${size}`, Buffer.alloc(size));
      t.equal(reply.status, 400, `${size} bytes → 400`);
      t.equal(reply.json().code, 'BLOCK_SIZE');
    }
    const over = await putBlock(url, 'size-4097', Buffer.alloc(4097));
    t.equal(over.status, 413);
    t.equal(over.json().code, 'BLOCK_SIZE');
    t.equal((await getBlock(url, 'size-4095')).status, 404, 'nothing was stored for a refused body');
  });

  await t.test('10 MiB streamed without Content-Length is refused at the 4097th byte', async (t) => {
    const answer = await raw(port, ['PUT /block/streamed HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n', `${(10 * 1024 * 1024).toString(16)}\r\n`], { keepWriting: 10 * 1024 * 1024 });
    t.equal(statusOf(answer), 413);
    t.equal(jsonOf(answer).code, 'BLOCK_SIZE');
  });

  await t.test('a Content-Length of 1 GiB with no body is refused at once', async (t) => {
    const answer = await raw(port, ['PUT /block/huge HTTP/1.1\r\nHost: x\r\nContent-Length: 1073741824\r\n\r\n']);
    t.equal(statusOf(answer), 413);
    t.equal(jsonOf(answer).code, 'BLOCK_SIZE');
  });

  await t.test('chunked bodies of exactly 4096 bytes are accepted', async (t) => {
    const data = randomBlock();
    const answer = await raw(port, ['PUT /block/chunked HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n', '800\r\n', data.subarray(0, 2048), '\r\n800\r\n', data.subarray(2048), '\r\n0\r\n\r\n']);
    t.equal(statusOf(answer), 201);
    t.ok((await getBlock(url, 'chunked')).body.equals(data));
  });

  await t.test('bad ids', async (t) => {
    for (const id of ['', 'x'.repeat(256), 'a%2Fb', 'has%20space', 'caf%C3%A9', 'bad%ZZ', 'a%00b']) {
      const reply = await request(`${url}/block/${id}`, { method: 'PUT', body: randomBlock() });
      t.equal(reply.status, 400, `id "${id.slice(0, 20)}" → 400`);
      t.equal(reply.json().code, 'BAD_ID');
    }
    // fetch normalises dot segments away, so these go over a raw connection exactly as written.
    for (const id of ['..', '.', '%2E%2E']) {
      const answer = await raw(port, [`GET /block/${id} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`]);
      t.equal(statusOf(answer), 400, `id "${id}" → 400`);
      t.equal(jsonOf(answer).code, 'BAD_ID');
    }
    t.equal((await putBlock(url, 'x'.repeat(255), randomBlock())).status, 201, 'an id of 255 bytes is fine');
    t.equal((await putBlock(url, 'A-z_0.9~:', randomBlock())).status, 201, 'every allowed character');
  });

  await t.test('unknown routes and wrong methods', async (t) => {
    const unknown = await request(`${url}/nothing-here`);
    t.equal(unknown.status, 404);
    t.equal(unknown.json().code, 'NOT_FOUND');
    const wrong = await request(`${url}/block/abc`, { method: 'POST', body: 'x' });
    t.equal(wrong.status, 405);
    t.equal(wrong.json().code, 'METHOD_NOT_ALLOWED');
    t.match(wrong.headers.get('allow'), /GET/);
    t.match(wrong.headers.get('allow'), /PUT/);
    t.equal((await request(`${url}/cluster`, { method: 'DELETE' })).status, 405);
    // HEAD is GET without the body, on every route that answers GET.
    for (const path of ['/live', '/health', '/cluster', '/metrics']) {
      const head = await request(`${url}${path}`, { method: 'HEAD' });
      t.equal(head.status, 200, `HEAD ${path} → 200`);
      t.equal(head.body.length, 0, `HEAD ${path}: no body`);
    }
    t.equal((await request(`${url}/cluster`, { method: 'DELETE' })).headers.get('allow'), 'GET, HEAD');
  });

  await t.test('a request asking to upgrade to another protocol (curl --http2, a WebSocket probe) is served as HTTP/1.1', async (t) => {
    const block = randomBlock();
    const put = await raw(port, [
      `PUT /block/upgrade-asked HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings, close\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\nContent-Length: 4096\r\n\r\n`,
      block.subarray(0, 100), block.subarray(100),
    ]);
    t.equal(statusOf(put), 201, 'the PUT is stored, not refused');
    const get = await raw(port, [`GET /block/upgrade-asked HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, close\r\nUpgrade: websocket\r\n\r\n`]);
    t.equal(statusOf(get), 200);
    t.same((await getBlock(url, 'upgrade-asked')).body, block, 'the bytes read back');
  });

  await t.test('internal routes need the cluster token', async (t) => {
    const none = await request(`${url}/internal/block/abc`, { headers: { 'x-ringblock-epoch': '1' } });
    t.equal(none.status, 401);
    t.equal(none.json().code, 'UNAUTHORIZED');
    const wrong = await request(`${url}/internal/block/abc`, { headers: { authorization: `Bearer ${'0'.repeat(48)}`, 'x-ringblock-epoch': '1' } });
    t.equal(wrong.status, 401);
    const writeWithout = await request(`${url}/internal/block/abc`, { method: 'PUT', body: randomBlock() });
    t.equal(writeWithout.status, 401);
    t.equal((await getBlock(url, 'abc')).status, 404, 'the unauthorized write stored nothing');
    // The scheme is case-insensitive: the right token under `bearer` is let in (404: no record here).
    const lowerCase = await request(`${url}/internal/block/abc`, { headers: { authorization: `bearer ${cluster.token}`, 'x-ringblock-epoch': '1' } });
    t.equal(lowerCase.status, 404);
    t.equal(lowerCase.json().code, 'NOT_FOUND');
  });

  await t.test('a slow client dribbling headers is cut off', async (t) => {
    const started = Date.now();
    const answer = await new Promise<string>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port });
      let text = '';
      const dribble = setInterval(() => socket.write('X'), 200);
      socket.on('connect', () => socket.write('GET /live HTTP/1.1\r\nHost: x\r\nX-Slow: '));
      socket.on('data', (data) => (text += data.toString()));
      socket.on('error', () => undefined);
      socket.on('close', () => {
        clearInterval(dribble);
        resolve(text);
      });
    });
    t.ok(Date.now() - started < 8_000, 'the connection was closed by the server');
    t.match(answer, /^(HTTP\/1\.1 408|$)/, 'answered 408 or closed');
  });

  await t.test('memory does not grow with the size of rejected bodies', async (t) => {
    const rssOf = async () => (await request(`${url}/metrics`)).body.toString().match(/^ringblock_process_resident_memory_bytes\{[^}]*\} (\d+)/m)?.[1];
    const before = Number(await rssOf());
    for (let round = 0; round < 16; round++) {
      await raw(port, ['PUT /block/flood HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n', `${(64 * 1024 * 1024).toString(16)}\r\n`], { keepWriting: 16 * 1024 * 1024 });
    }
    const after = Number(await rssOf());
    t.ok(before > 0 && after > 0, 'the node reports its memory');
    t.ok(after - before < 64 * 1024 * 1024, `resident memory grew by ${((after - before) / 1048576).toFixed(1)} MiB after 256 MiB of rejected bodies`);
  });

  await t.test('the node is still healthy and serving', async (t) => {
    t.equal((await request(`${url}/ready`)).status, 200);
    const data = randomBlock();
    t.equal((await putBlock(url, 'after-abuse', data)).status, 201);
    t.ok((await getBlock(url, 'after-abuse')).body.equals(data));
  });
});
