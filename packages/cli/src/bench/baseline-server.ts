// The baseline of the cluster benchmark: a bare node:http server keeping PUT bodies in a Map and
// serving GETs, run as its own process. Prints its port on stdout.
import { createServer } from 'node:http';

const blocks = new Map<string, Buffer>();
const server = createServer((req, res) => {
  const id = req.url ?? '/';
  if (req.method === 'PUT') {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      blocks.set(id.split('?')[0]!, Buffer.concat(chunks));
      res.writeHead(201, { 'content-length': 0 });
      res.end();
    });
    return;
  }
  const block = blocks.get(id.split('?')[0]!);
  if (!block) {
    res.writeHead(404, { 'content-length': 0 });
    res.end();
    return;
  }
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': block.length });
  res.end(block);
});
server.keepAliveTimeout = 10_000;
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  process.stdout.write(`${typeof address === 'object' && address ? address.port : 0}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
