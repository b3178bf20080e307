// Test support: a real OTLP gRPC trace receiver in the test process (a @grpc/grpc-js server on a
// loopback port serving TraceService/Export), decoding every export into spans with their
// resource. @opentelemetry/otlp-transformer 0.301 ships a hand-written protobuf *writer* for
// requests and no generated definitions or request decoder, so the few messages of
// opentelemetry/proto/{collector/trace,trace,resource,common}/v1 a span needs are decoded here,
// field numbers as in those .proto files (tested against the transformer's own serializer).
import { Server, ServerCredentials, type sendUnaryData, type ServerUnaryCall, type ServiceDefinition } from '@grpc/grpc-js';

export type AttributeValue = string | number | boolean | AttributeValue[] | { [key: string]: AttributeValue } | null;
export type Attributes = Record<string, AttributeValue>;
export type SpanKindName = 'unspecified' | 'internal' | 'server' | 'client' | 'producer' | 'consumer';
const SPAN_KINDS: readonly SpanKindName[] = ['unspecified', 'internal', 'server', 'client', 'producer', 'consumer'];
const STATUS_CODES = ['unset', 'ok', 'error'] as const;

export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  /** '' for a root span. */
  parentSpanId: string;
  name: string;
  kind: SpanKindName;
  startNs: bigint;
  endNs: bigint;
  attributes: Attributes;
  events: { name: string; timeNs: bigint; attributes: Attributes }[];
  status: { code: (typeof STATUS_CODES)[number]; message: string };
  /** The exporting process's resource (service.name, service.instance.id, ...). */
  resource: Attributes;
  scope: string;
}

/** Bound on spans kept: a test exports a handful; more means a runaway exporter. */
const SPANS_MAX = 100_000;
const EXPORT_PATH = '/opentelemetry.proto.collector.trace.v1.TraceService/Export';
const identity = (bytes: Buffer) => bytes;
const TRACE_SERVICE: ServiceDefinition = {
  Export: { path: EXPORT_PATH, requestStream: false, responseStream: false, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity },
};

export class OtlpReceiver {
  readonly spans: ReceivedSpan[] = [];
  /** Export calls received, and the ones that did not decode (each with its error). */
  exports = 0;
  readonly failures: string[] = [];

  private constructor(private readonly server: Server, readonly port: number) {}

  static async start(): Promise<OtlpReceiver> {
    const server = new Server();
    let receiver: OtlpReceiver | undefined;
    server.addService(TRACE_SERVICE, {
      Export: (call: ServerUnaryCall<Buffer, Buffer>, answer: sendUnaryData<Buffer>) => {
        receiver?.receive(call.request);
        // An empty ExportTraceServiceResponse: everything accepted.
        answer(null, Buffer.alloc(0));
      },
    });
    const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))));
    receiver = new OtlpReceiver(server, port);
    return receiver;
  }

  /** What OTEL_EXPORTER_OTLP_ENDPOINT is set to (plaintext gRPC). */
  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  trace(traceId: string): ReceivedSpan[] {
    return this.spans.filter((span) => span.traceId === traceId);
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      // Bounded: an exporter's open stream must not hold the teardown.
      const timer = setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, 2_000);
      this.server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  private receive(request: Buffer): void {
    this.exports++;
    try {
      for (const span of decodeExportTraceServiceRequest(request)) if (this.spans.length < SPANS_MAX) this.spans.push(span);
    } catch (error) {
      this.failures.push(String(error));
    }
  }
}

/** ExportTraceServiceRequest { repeated ResourceSpans resource_spans = 1; } */
export function decodeExportTraceServiceRequest(bytes: Uint8Array): ReceivedSpan[] {
  const spans: ReceivedSpan[] = [];
  for (const [field, value] of fields(bytes)) if (field === 1) spans.push(...decodeResourceSpans(asBytes(value)));
  return spans;
}

/** ResourceSpans { Resource resource = 1; repeated ScopeSpans scope_spans = 2; } — Resource { repeated KeyValue attributes = 1; } */
function decodeResourceSpans(bytes: Uint8Array): ReceivedSpan[] {
  let resource: Attributes = {};
  const scopes: Uint8Array[] = [];
  for (const [field, value] of fields(bytes)) {
    if (field === 1) resource = attributesOf(asBytes(value), 1);
    else if (field === 2) scopes.push(asBytes(value));
  }
  return scopes.flatMap((scope) => decodeScopeSpans(scope, resource));
}

/** ScopeSpans { InstrumentationScope scope = 1; repeated Span spans = 2; } — InstrumentationScope { string name = 1; } */
function decodeScopeSpans(bytes: Uint8Array, resource: Attributes): ReceivedSpan[] {
  let scope = '';
  const spans: Uint8Array[] = [];
  for (const [field, value] of fields(bytes)) {
    if (field === 1) for (const [scopeField, scopeValue] of fields(asBytes(value))) if (scopeField === 1) scope = text(scopeValue);
    if (field === 2) spans.push(asBytes(value));
  }
  return spans.map((span) => decodeSpan(span, resource, scope));
}

/**
 * Span { bytes trace_id = 1; bytes span_id = 2; bytes parent_span_id = 4; string name = 5; SpanKind kind = 6;
 * fixed64 start_time_unix_nano = 7; fixed64 end_time_unix_nano = 8; repeated KeyValue attributes = 9;
 * repeated Event events = 11; Status status = 15; } — Status { string message = 2; StatusCode code = 3; }
 */
function decodeSpan(bytes: Uint8Array, resource: Attributes, scope: string): ReceivedSpan {
  const span: ReceivedSpan = { traceId: '', spanId: '', parentSpanId: '', name: '', kind: 'unspecified', startNs: 0n, endNs: 0n, attributes: {}, events: [], status: { code: 'unset', message: '' }, resource, scope };
  for (const [field, value] of fields(bytes)) {
    if (field === 1) span.traceId = hex(value);
    else if (field === 2) span.spanId = hex(value);
    else if (field === 4) span.parentSpanId = hex(value);
    else if (field === 5) span.name = text(value);
    else if (field === 6) span.kind = SPAN_KINDS[Number(value)] ?? 'unspecified';
    else if (field === 7) span.startNs = fixed64(value);
    else if (field === 8) span.endNs = fixed64(value);
    else if (field === 9) Object.assign(span.attributes, keyValue(asBytes(value)));
    else if (field === 11) span.events.push(decodeEvent(asBytes(value)));
    else if (field === 15) {
      for (const [statusField, statusValue] of fields(asBytes(value))) {
        if (statusField === 2) span.status.message = text(statusValue);
        if (statusField === 3) span.status.code = STATUS_CODES[Number(statusValue)] ?? 'unset';
      }
    }
  }
  return span;
}

/** Event { fixed64 time_unix_nano = 1; string name = 2; repeated KeyValue attributes = 3; } */
function decodeEvent(bytes: Uint8Array): ReceivedSpan['events'][number] {
  const event = { name: '', timeNs: 0n, attributes: {} as Attributes };
  for (const [field, value] of fields(bytes)) {
    if (field === 1) event.timeNs = fixed64(value);
    else if (field === 2) event.name = text(value);
    else if (field === 3) Object.assign(event.attributes, keyValue(asBytes(value)));
  }
  return event;
}

function attributesOf(bytes: Uint8Array, field: number): Attributes {
  const attributes: Attributes = {};
  for (const [number, value] of fields(bytes)) if (number === field) Object.assign(attributes, keyValue(asBytes(value)));
  return attributes;
}

/** KeyValue { string key = 1; AnyValue value = 2; } */
function keyValue(bytes: Uint8Array): Attributes {
  let key = '';
  let value: AttributeValue = null;
  for (const [field, raw] of fields(bytes)) {
    if (field === 1) key = text(raw);
    else if (field === 2) value = anyValue(asBytes(raw));
  }
  return { [key]: value };
}

/**
 * AnyValue { oneof: string string_value = 1; bool bool_value = 2; int64 int_value = 3; double double_value = 4;
 * ArrayValue array_value = 5 (repeated AnyValue values = 1); KeyValueList kvlist_value = 6 (repeated KeyValue values = 1); bytes bytes_value = 7; }
 */
function anyValue(bytes: Uint8Array): AttributeValue {
  let value: AttributeValue = null;
  for (const [field, raw] of fields(bytes)) {
    if (field === 1) value = text(raw);
    else if (field === 2) value = raw !== 0n;
    else if (field === 3) value = Number(BigInt.asIntN(64, raw as bigint));
    else if (field === 4) value = Buffer.from(asBytes(raw)).readDoubleLE(0);
    else if (field === 5) value = [...fields(asBytes(raw))].filter(([number]) => number === 1).map(([, item]) => anyValue(asBytes(item)));
    else if (field === 6) value = attributesOf(asBytes(raw), 1);
    else if (field === 7) value = hex(raw);
  }
  return value;
}

/** The fields of one message in wire order: varints as bigint, everything else (fixed, length-delimited) as its bytes. */
function* fields(bytes: Uint8Array): Generator<[number, bigint | Uint8Array]> {
  let pos = 0;
  const varint = (): bigint => {
    let result = 0n;
    for (let shift = 0n; pos < bytes.length && shift < 70n; shift += 7n) {
      const byte = bytes[pos++]!;
      result |= BigInt(byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return result;
    }
    throw new Error(`truncated or overlong varint at ${pos}`);
  };
  const take = (length: number): Uint8Array => {
    if (pos + length > bytes.length) throw new Error(`truncated message: ${length} bytes wanted at ${pos} of ${bytes.length}`);
    const slice = bytes.subarray(pos, pos + length);
    pos += length;
    return slice;
  };
  while (pos < bytes.length) {
    const tag = varint();
    const field = Number(tag >> 3n);
    const wire = Number(tag & 7n);
    if (wire === 0) yield [field, varint()];
    else if (wire === 1) yield [field, take(8)];
    else if (wire === 2) yield [field, take(Number(varint()))];
    else if (wire === 5) yield [field, take(4)];
    else throw new Error(`unsupported wire type ${wire} (field ${field})`);
  }
}

function asBytes(value: bigint | Uint8Array): Uint8Array {
  if (typeof value === 'bigint') throw new Error('a length-delimited field was expected, got a varint');
  return value;
}

function text(value: bigint | Uint8Array): string {
  return Buffer.from(asBytes(value)).toString('utf8');
}

function hex(value: bigint | Uint8Array): string {
  return Buffer.from(asBytes(value)).toString('hex');
}

function fixed64(value: bigint | Uint8Array): bigint {
  return Buffer.from(asBytes(value)).readBigUInt64LE(0);
}
