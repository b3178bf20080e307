// The OpenAPI 3.1 document of the public API, served at /openapi.json. A test checks real responses
// of a running node against it, so it cannot drift from what the node does.
import { VOLUME_NAME_PATTERN, VOLUME_STATES } from '@ringblock/spdk';
const error = (codes: string[], extra: Record<string, unknown> = {}) => ({
  description: codes.join(', '),
  content: {
    'application/json': {
      schema: {
        type: 'object',
        required: ['error', 'code'],
        properties: { error: { type: 'string' }, code: { type: 'string', enum: codes }, ...extra },
      },
    },
  },
});
const unavailable = error(['UNAVAILABLE'], { required: { type: 'integer' }, acked: { type: 'integer' } });
const blockId = { name: 'id', in: 'path', required: true, schema: { type: 'string', pattern: '^[A-Za-z0-9._~:-]{1,255}$' } };
const consistency = { name: 'consistency', in: 'query', required: false, schema: { type: 'string', enum: ['one', 'quorum', 'all'], default: 'quorum' } };
const etag = { ETag: { schema: { type: 'string' }, description: 'the version: "<16 hex digits>-<coordinator node>"' } };
const json = (schema: Record<string, unknown>, description: string) => ({ description, content: { 'application/json': { schema } } });

const member = {
  type: 'object',
  required: ['name', 'addr', 'state', 'inRing'],
  properties: {
    name: { type: 'string' },
    addr: { type: 'string' },
    zone: { type: ['string', 'null'] },
    state: { type: 'string', enum: ['live', 'down'] },
    inRing: { type: 'boolean' },
    ownershipShare: { type: 'number' },
    capacityBytes: { type: ['integer', 'null'] },
    usedBytes: { type: ['integer', 'null'] },
  },
};

const volumeName = { name: 'name', in: 'path', required: true, schema: { type: 'string', pattern: VOLUME_NAME_PATTERN } };
const volume = {
  type: 'object',
  required: ['name', 'host', 'sizeMib', 'fsm', 'createdAt', 'updatedAt'],
  properties: {
    name: { type: 'string' },
    host: { type: 'string' },
    sizeMib: { type: 'integer' },
    fsm: { type: 'object', required: ['state'], properties: { state: { type: 'string', enum: VOLUME_STATES }, attempt: { type: 'integer' }, lastError: { type: 'string' } } },
    lvol: { type: 'object', required: ['uuid', 'alias', 'sizeMib'], properties: { uuid: { type: 'string' }, alias: { type: 'string' }, sizeMib: { type: 'integer' } } },
    export: { type: 'object', required: ['nqn', 'trtype', 'traddr', 'trsvcid', 'nsid'], properties: { nqn: { type: 'string' }, trtype: { type: 'string', enum: ['RDMA', 'TCP'] }, traddr: { type: 'string' }, trsvcid: { type: 'string' }, nsid: { type: 'integer' } } },
    simFile: { type: 'string' },
    snapshots: { type: 'array', items: { type: 'string' } },
    createdAt: { type: 'integer' },
    updatedAt: { type: 'integer' },
  },
};
const volumeAccepted = json({ type: 'object', required: ['task', 'volume', 'state', 'status'], properties: { task: { type: 'string' }, volume: { type: 'string' }, state: { type: 'string', enum: VOLUME_STATES }, status: { type: 'string' } } }, 'accepted: follow the task or the events');
const volumeRefused = error(['INVALID_TRANSITION'], { state: { type: 'string', enum: VOLUME_STATES }, event: { type: 'string' } });
/** A volume operation with a JSON body of `fields` (all required), accepted as a task. */
const volumeOperation = (summary: string, fields: Record<string, { type: string }>) => ({
  summary,
  parameters: [volumeName],
  requestBody: { required: true, content: { 'application/json': { schema: { type: 'object', required: Object.keys(fields), properties: fields } } } },
  responses: { '202': volumeAccepted, '400': error(['BAD_REQUEST']), '401': error(['UNAUTHORIZED']), '404': error(['NOT_FOUND']), '409': volumeRefused },
});

export const OPENAPI_DOCUMENT = {
  openapi: '3.1.0',
  info: { title: 'ringblock', version: '0.1.0', description: 'A distributed, leaderless store of fixed 4 KiB blocks.' },
  paths: {
    '/': {
      get: {
        summary: 'Status page: members, the ring drawn, migration and repair progress, refreshed live from /cluster, /cluster/ring and /health',
        responses: { '200': { description: 'a self-contained HTML page', content: { 'text/html': { schema: { type: 'string' } } } } },
      },
    },
    '/block/{id}': {
      parameters: [blockId, consistency],
      put: {
        summary: 'Store a block (exactly 4096 bytes)',
        requestBody: { required: true, content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary', minLength: 4096, maxLength: 4096 } } } },
        responses: {
          '201': { ...json({ type: 'object', required: ['id', 'version'], properties: { id: { type: 'string' }, version: { type: 'string' } } }, 'stored at the consistency level'), headers: etag },
          '400': error(['BLOCK_SIZE', 'BAD_ID', 'BAD_REQUEST']),
          '413': error(['BLOCK_SIZE']),
          '503': unavailable,
          '507': error(['INSUFFICIENT_STORAGE']),
        },
      },
      get: {
        summary: 'Read a block',
        responses: {
          '200': { description: 'the block', headers: etag, content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } } },
          '304': { description: 'If-None-Match matched' },
          '400': error(['BAD_ID', 'BAD_REQUEST']),
          '404': error(['NOT_FOUND']),
          '503': unavailable,
        },
      },
      head: { summary: 'Version of a block', responses: { '200': { description: 'exists', headers: etag }, '404': { description: 'no such block' } } },
      delete: {
        summary: 'Delete a block (writes a tombstone; idempotent)',
        responses: { '204': { description: 'deleted', headers: etag }, '400': error(['BAD_ID', 'BAD_REQUEST']), '503': unavailable },
      },
    },
    '/live': { get: { summary: 'Liveness', responses: { '200': json({ type: 'object', required: ['status'], properties: { status: { type: 'string' } } }, 'the process runs') } } },
    '/ready': {
      get: {
        summary: 'Readiness: registered, ring known, device open',
        responses: {
          '200': json({ type: 'object', required: ['status'], properties: { status: { type: 'string', enum: ['ready'] } } }, 'ready'),
          '503': error(['NOT_READY']),
        },
      },
    },
    '/health': {
      get: {
        summary: 'Node health',
        responses: {
          '200': json(
            {
              type: 'object',
              required: ['node', 'state', 'zookeeper', 'ring', 'device', 'backing', 'transport', 'migration'],
              properties: {
                node: { type: 'string' },
                state: { type: 'string' },
                zookeeper: { type: 'object', required: ['connected', 'ringConfirmed'], properties: { connected: { type: 'boolean' }, ringConfirmed: { type: 'boolean' } } },
                ring: { type: 'object', required: ['epoch'], properties: { epoch: { type: 'integer' } } },
                transport: { type: 'object', required: ['tls', 'peerProtocol'], properties: { tls: { type: 'boolean' }, peerProtocol: { type: 'string', enum: ['binary', 'http'] } } },
                device: { type: 'object', required: ['path', 'blocks', 'capacityBytes', 'usedBytes'], properties: { path: { type: 'string' }, blocks: { type: 'integer' }, capacityBytes: { type: 'integer' }, usedBytes: { type: 'integer' } } },
                backing: {
                  type: 'object',
                  required: ['kind'],
                  properties: {
                    kind: { type: 'string', enum: ['file', 'spdk'] },
                    volume: { type: 'string' },
                    host: { type: 'string' },
                    state: { type: 'string', enum: VOLUME_STATES },
                    sizeMib: { type: 'integer' },
                    attachedVia: { type: 'string', enum: ['nvme-rdma', 'nvme-tcp', 'loop', 'file'] },
                    device: { type: 'string' },
                    nqn: { type: 'string' },
                    target: { type: 'string' },
                    nsid: { type: 'integer' },
                  },
                },
                migration: { type: ['object', 'null'] },
              },
            },
            'health of this node',
          ),
        },
      },
    },
    '/metrics': { get: { summary: 'Prometheus metrics', responses: { '200': { description: 'text format', content: { 'text/plain': { schema: { type: 'string' } } } } } } },
    '/cluster': {
      get: {
        summary: 'Members, ring epoch, replication, ownership',
        responses: {
          '200': json(
            {
              type: 'object',
              required: ['cluster', 'epoch', 'replicationFactor', 'vnodes', 'members', 'migration'],
              properties: {
                cluster: { type: 'string' },
                epoch: { type: 'integer' },
                replicationFactor: { type: 'integer' },
                vnodes: { type: 'integer' },
                members: { type: 'array', items: member },
                migration: { type: ['object', 'null'] },
                pendingChange: {
                  type: ['object', 'null'],
                  description: 'a ring change the live set calls for that is not running yet; undersuppliedRanges > 0: it waits because some range would have fewer live owners than a write quorum, or fewer live sources than a read quorum while a down owner stays',
                  required: ['target', 'undersuppliedRanges'],
                  properties: { target: { type: 'array', items: { type: 'string' } }, undersuppliedRanges: { type: 'integer', minimum: 0 } },
                },
              },
            },
            'the cluster as this node sees it',
          ),
        },
      },
    },
    '/cluster/ring': {
      get: {
        summary: 'The committed ring: tokens to nodes',
        responses: {
          '200': json(
            {
              type: 'object',
              required: ['epoch', 'replicationFactor', 'vnodes', 'nodes', 'tokens'],
              properties: {
                epoch: { type: 'integer' },
                replicationFactor: { type: 'integer' },
                vnodes: { type: 'integer' },
                nodes: { type: 'array', items: { type: 'object', required: ['name', 'addr'], properties: { name: { type: 'string' }, addr: { type: 'string' }, zone: { type: ['string', 'null'] } } } },
                tokens: { type: 'array', items: { type: 'object', required: ['token', 'node'], properties: { token: { type: 'string', pattern: '^[0-9]+$' }, node: { type: 'string' } } } },
                migration: {
                  type: ['object', 'null'],
                  description: 'while a migration runs with dual writes on: the arcs whose owners change (from: losing them, to: gaining them), at most 4096 listed',
                  required: ['epoch', 'rangesTotal', 'ranges'],
                  properties: {
                    epoch: { type: 'integer' },
                    rangesTotal: { type: 'integer' },
                    ranges: {
                      type: 'array',
                      items: {
                        type: 'object',
                        required: ['start', 'end', 'from', 'to'],
                        properties: { start: { type: 'string', pattern: '^[0-9]+$' }, end: { type: 'string', pattern: '^[0-9]+$' }, from: { type: 'array', items: { type: 'string' } }, to: { type: 'array', items: { type: 'string' } } },
                      },
                    },
                  },
                },
              },
            },
            'tokens as decimal strings (unsigned 64-bit), sorted',
          ),
        },
      },
    },
    '/cluster/nodes/{name}/decommission': {
      post: {
        summary: "Move a node's data to its new owners, then take it out of the ring (cluster token required)",
        parameters: [{ name: 'name', in: 'path', required: true, schema: { type: 'string' } }],
        responses: {
          '202': json({ type: 'object', required: ['task', 'node'], properties: { task: { type: 'string' }, node: { type: 'string' }, created: { type: 'boolean' }, status: { type: 'string' } } }, 'started (or already running: the same task)'),
          '401': error(['UNAUTHORIZED']),
          '404': error(['NOT_FOUND']),
          '409': error(['CONFLICT']),
        },
      },
    },
    '/tasks/{id}': {
      get: {
        summary: 'A long operation: state and progress',
        parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }],
        responses: { '200': json({ type: 'object', required: ['id', 'kind', 'state'], properties: { id: { type: 'string' }, kind: { type: 'string' }, state: { type: 'string' } } }, 'the task'), '404': error(['NOT_FOUND']) },
      },
    },
    '/cluster/repair': {
      post: {
        summary: 'Start a full anti-entropy repair on every live node (cluster token required)',
        responses: { '202': json({ type: 'object', required: ['task'], properties: { task: { type: 'string' }, status: { type: 'string' } } }, 'started'), '401': error(['UNAUTHORIZED']) },
      },
    },
    '/repairs/{id}': {
      get: {
        summary: 'Progress of a full repair, gathered from every node',
        parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }],
        responses: { '200': json({ type: 'object' }, 'progress per node'), '404': error(['NOT_FOUND']) },
      },
    },
    '/volumes': {
      get: { summary: 'Every volume record (SPDK backing)', responses: { '200': json({ type: 'object', required: ['volumes'], properties: { volumes: { type: 'array', items: volume } } }, 'the records'), '503': error(['UNAVAILABLE']) } },
    },
    '/volumes/{name}': {
      get: { summary: 'One volume record', parameters: [volumeName], responses: { '200': json(volume, 'the record'), '400': error(['BAD_REQUEST']), '404': error(['NOT_FOUND']) } },
      delete: {
        summary: 'Delete a volume that is not attached (cluster token required)',
        parameters: [volumeName],
        responses: { '202': volumeAccepted, '401': error(['UNAUTHORIZED']), '404': error(['NOT_FOUND']), '409': volumeRefused },
      },
    },
    '/volumes/{name}/events': {
      get: {
        summary: 'Server-Sent Events: `state` (the current state) at once, `transition` per FSM transition, `done` on a terminal state; resumes after Last-Event-ID or ?after=N',
        parameters: [volumeName, { name: 'after', in: 'query', required: false, schema: { type: 'string', pattern: '^-?\\d{1,10}$' } }],
        responses: { '200': { description: 'event stream', content: { 'text/event-stream': { schema: { type: 'string' } } } }, '400': error(['BAD_REQUEST']), '404': error(['NOT_FOUND']), '503': error(['UNAVAILABLE']) },
      },
    },
    '/volumes/{name}/resize': {
      post: volumeOperation('Grow a volume (cluster token required); its node grows its engine once the lvol grew', { sizeMib: { type: 'integer' } }),
    },
    '/volumes/{name}/snapshots': {
      post: volumeOperation('Snapshot a volume (cluster token required)', { name: { type: 'string' } }),
    },
    '/volumes/{name}/reconcile': {
      post: {
        summary: "Align the volume's state with what SPDK really holds (cluster token required)",
        parameters: [volumeName],
        responses: {
          '202': json({ type: 'object', required: ['volume', 'observed', 'state'], properties: { task: { type: 'string' }, status: { type: 'string' }, volume: { type: 'string' }, observed: { type: 'string', enum: ['absent', 'exists', 'attached'] }, state: { type: 'string', enum: VOLUME_STATES } } }, 'reconciled'),
          '401': error(['UNAUTHORIZED']),
          '404': error(['NOT_FOUND']),
          '503': error(['AGENT_UNAVAILABLE', 'SPDK_UNREACHABLE', 'UNAVAILABLE'], { state: { type: 'string', enum: VOLUME_STATES } }),
        },
      },
    },
    '/openapi.json': { get: { summary: 'This document', responses: { '200': json({ type: 'object', required: ['openapi', 'paths'] }, 'OpenAPI 3.1') } } },
  },
} as const;
