// Real responses of a running node checked against the OpenAPI document it serves.
import t from 'tap';
import { randomBlock, request, startCluster, type Reply } from './support/cluster.js';
import { validate } from './support/schema.js';

interface Operation {
  responses: Record<string, { content?: Record<string, { schema: object }>; headers?: Record<string, unknown> }>;
}

t.test('responses match /openapi.json', async (t) => {
  const cluster = await startCluster(t, { nodes: 1 });
  const url = cluster.nodes[0]!.spec.url;
  const document = (await request(`${url}/openapi.json`)).json<{ openapi: string; paths: Record<string, Record<string, Operation>> }>();
  t.equal(document.openapi, '3.1.0');

  const check = (path: string, method: string, reply: Reply) => {
    const operation = document.paths[path]?.[method];
    if (!operation) return t.fail(`${method.toUpperCase()} ${path} is not documented`);
    const documented = operation.responses[String(reply.status)];
    if (!documented) return t.fail(`${method.toUpperCase()} ${path} answered ${reply.status}, which is not documented`);
    for (const header of Object.keys(documented.headers ?? {})) t.ok(reply.headers.get(header), `${method.toUpperCase()} ${path} ${reply.status} has ${header}`);
    const schema = documented.content?.['application/json']?.schema;
    if (schema) t.same(validate(schema, reply.json()), [], `${method.toUpperCase()} ${path} ${reply.status} matches its schema`);
    else if (documented.content) t.ok(Object.keys(documented.content).some((type) => reply.headers.get('content-type')?.startsWith(type)), `${method.toUpperCase()} ${path} ${reply.status} content type`);
  };

  const block = randomBlock();
  check('/block/{id}', 'put', await request(`${url}/block/doc`, { method: 'PUT', body: block }));
  check('/block/{id}', 'get', await request(`${url}/block/doc`));
  check('/block/{id}', 'head', await request(`${url}/block/doc`, { method: 'HEAD' }));
  check('/block/{id}', 'get', await request(`${url}/block/missing`));
  check('/block/{id}', 'put', await request(`${url}/block/doc`, { method: 'PUT', body: Buffer.alloc(10) }));
  check('/block/{id}', 'put', await request(`${url}/block/doc`, { method: 'PUT', body: Buffer.alloc(5000) }));
  check('/block/{id}', 'put', await request(`${url}/block/bad%20id`, { method: 'PUT', body: block }));
  check('/block/{id}', 'delete', await request(`${url}/block/doc`, { method: 'DELETE' }));
  for (const path of ['/live', '/ready', '/health', '/metrics', '/cluster', '/cluster/ring', '/openapi.json']) {
    check(path, 'get', await request(`${url}${path}`));
  }
});
