// Checking a real response against the OpenAPI document a node serves: the operation and status
// must be documented, documented headers present, and a JSON body must match its schema.
import type { Test } from 'tap';
import { request, type Reply } from './cluster.js';
import { validate } from './schema.js';

interface Operation {
  responses: Record<string, { content?: Record<string, { schema: object }>; headers?: Record<string, unknown> }>;
}

export interface OpenApiDocument {
  openapi: string;
  paths: Record<string, Record<string, Operation>>;
}

export async function openApiDocument(url: string): Promise<OpenApiDocument> {
  return (await request(`${url}/openapi.json`)).json<OpenApiDocument>();
}

export function checkDocumented(t: Test, document: OpenApiDocument, path: string, method: string, reply: Reply): void {
  const what = `${method.toUpperCase()} ${path}`;
  const operation = document.paths[path]?.[method];
  if (!operation) return void t.fail(`${what} is not documented`);
  const documented = operation.responses[String(reply.status)];
  if (!documented) return void t.fail(`${what} answered ${reply.status}, which is not documented`);
  for (const header of Object.keys(documented.headers ?? {})) t.ok(reply.headers.get(header), `${what} ${reply.status} has ${header}`);
  const schema = documented.content?.['application/json']?.schema;
  if (schema) t.same(validate(schema, reply.json()), [], `${what} ${reply.status} matches its schema`);
  else if (documented.content) t.ok(Object.keys(documented.content).some((type) => reply.headers.get('content-type')?.startsWith(type)), `${what} ${reply.status} content type`);
}
