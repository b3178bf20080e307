// Real responses of a running node checked against the OpenAPI document it serves.
import t from 'tap';
import { randomBlock, request, startCluster, type Reply } from './support/cluster.js';
import { checkDocumented, openApiDocument } from './support/openapi.js';

t.test('responses match /openapi.json', async (t) => {
  const cluster = await startCluster(t, { nodes: 1 });
  const url = cluster.nodes[0]!.spec.url;
  const document = await openApiDocument(url);
  t.equal(document.openapi, '3.1.0');
  const check = (path: string, method: string, reply: Reply) => checkDocumented(t, document, path, method, reply);

  const block = randomBlock();
  check('/block/{id}', 'put', await request(`${url}/block/doc`, { method: 'PUT', body: block }));
  check('/block/{id}', 'get', await request(`${url}/block/doc`));
  check('/block/{id}', 'head', await request(`${url}/block/doc`, { method: 'HEAD' }));
  check('/block/{id}', 'get', await request(`${url}/block/missing`));
  check('/block/{id}', 'put', await request(`${url}/block/doc`, { method: 'PUT', body: Buffer.alloc(10) }));
  check('/block/{id}', 'put', await request(`${url}/block/doc`, { method: 'PUT', body: Buffer.alloc(5000) }));
  check('/block/{id}', 'put', await request(`${url}/block/bad%20id`, { method: 'PUT', body: block }));
  check('/block/{id}', 'delete', await request(`${url}/block/doc`, { method: 'DELETE' }));
  for (const path of ['/', '/live', '/ready', '/health', '/metrics', '/cluster', '/cluster/ring', '/openapi.json']) {
    check(path, 'get', await request(`${url}${path}`));
  }
});
