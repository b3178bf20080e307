// OpenTelemetry traces (DESIGN §10): one tracer provider per node, exporting over OTLP gRPC through a
// BatchSpanProcessor, and the few span helpers the request path uses. Nothing is registered
// globally (several nodes may share a process in tests): the node hands its Tracer to the parts
// that make spans, and contexts are passed along explicitly, not through a context manager.
// Tracing off means no Tracer: callers check for one (or for a request's context) and do nothing
// else — no span objects, no header work.
import type { IncomingHttpHeaders } from 'node:http';
import type { Logger } from 'pino';
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, defaultTextMapGetter, defaultTextMapSetter, trace, type Attributes, type Context, type Span, type Tracer } from '@opentelemetry/api';
import { ExportResultCode, W3CTraceContextPropagator, type ExportResult } from '@opentelemetry/core';
import { defaultResource, detectResources, envDetector, resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor, type ReadableSpan, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import type { TracingConfig } from './config.js';

/** How long stopping waits for queued spans to be exported before giving up on them. */
export const TRACE_FLUSH_MS = 2_000;
/** At most one log line per this interval about failed exports (a collector down fails every batch). */
const EXPORT_FAILURE_LOG_MS = 60_000;
const TRACER_NAME = 'ringblock';

const propagator = new W3CTraceContextPropagator();

export interface TracingIdentity {
  node: string;
  cluster: string;
  version: string;
}

export class NodeTracing {
  private constructor(readonly tracer: Tracer, private readonly provider: BasicTracerProvider) {}

  /**
   * The provider, its batch processor (OTEL_BSP_* honoured) and the exporter. Resource: the
   * service name, service.instance.id = the node name, ringblock.cluster, plus OTEL_RESOURCE_ATTRIBUTES.
   */
  static start(config: TracingConfig, identity: TracingIdentity, log: Logger): NodeTracing {
    const resource = defaultResource()
      .merge(detectResources({ detectors: [envDetector] }))
      .merge(resourceFromAttributes({ 'service.name': config.serviceName, 'service.instance.id': identity.node, 'service.version': identity.version, 'ringblock.cluster': identity.cluster }));
    // The exporter (0.301) is built against the 3.x SDK types, the processor against 2.x: same shapes.
    const exporter = new LoggedExporter(new OTLPTraceExporter({ url: config.endpoint }), config.endpoint, log);
    const processor = new BatchSpanProcessor(exporter);
    const provider = new BasicTracerProvider({ resource, spanProcessors: [processor] });
    return new NodeTracing(provider.getTracer(TRACER_NAME, identity.version), provider);
  }

  /** Exports what is queued and closes the exporter, for at most `timeoutMs`; what is left is dropped. */
  async shutdown(timeoutMs = TRACE_FLUSH_MS): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)));
    await Promise.race([this.provider.shutdown().catch(() => undefined), expired]);
    clearTimeout(timer);
  }
}

/** The OTLP exporter, saying in the log (rate-limited) when batches are dropped: the SDK itself stays silent. */
class LoggedExporter implements SpanExporter {
  private lastLoggedMs = -Infinity;
  private failedSinceLog = 0;

  constructor(private readonly inner: SpanExporter, private readonly endpoint: string, private readonly log: Logger) {}

  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    this.inner.export(spans, (result) => {
      if (result.code !== ExportResultCode.SUCCESS) this.failed(spans.length, result.error);
      done(result);
    });
  }

  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }

  forceFlush(): Promise<void> {
    return this.inner.forceFlush?.() ?? Promise.resolve();
  }

  private failed(spans: number, error: Error | undefined): void {
    this.failedSinceLog += spans;
    const nowMs = performance.now();
    if (nowMs - this.lastLoggedMs < EXPORT_FAILURE_LOG_MS) return;
    this.log.warn({ reason: error?.message, endpoint: this.endpoint, droppedSpans: this.failedSinceLog }, 'exporting traces failed; spans dropped');
    this.lastLoggedMs = nowMs;
    this.failedSinceLog = 0;
  }
}

/** The SERVER span of one request, its context (the parent of everything done for it) and how it failed. */
export interface RequestSpan {
  span: Span;
  context: Context;
  error?: string;
}

/** Starts the server span of a traced route, continuing the caller's trace when it sent `traceparent`. */
export function startRequestSpan(tracer: Tracer, node: string, method: string, route: string, headers: IncomingHttpHeaders): RequestSpan {
  const parent = headers.traceparent === undefined ? ROOT_CONTEXT : propagator.extract(ROOT_CONTEXT, headers, defaultTextMapGetter);
  const span = tracer.startSpan(`${method} ${route}`, { kind: SpanKind.SERVER, attributes: { 'http.request.method': method, 'http.route': route, 'ringblock.node': node } }, parent);
  return { span, context: trace.setSpan(parent, span) };
}

/** Ends a request's span with its status; 4xx and 5xx answers, and answers never completed, are errors. */
export function endRequestSpan(request: RequestSpan, status: number, completed: boolean): void {
  const { span } = request;
  span.setAttribute('http.response.status_code', status);
  if (!completed) span.setStatus({ code: SpanStatusCode.ERROR, message: 'the connection closed before the answer was sent' });
  else if (status >= 400) {
    if (!request.error) span.setAttribute('error.type', String(status));
    span.setStatus({ code: SpanStatusCode.ERROR, message: request.error ?? `HTTP ${status}` });
  }
  span.end();
}

/** The answer a request failed with (its stable code and sentence), and the exception behind a 500. */
export function failRequestSpan(request: RequestSpan, code: string, message: string, unexpected?: unknown): void {
  request.error = `${code}: ${message}`;
  request.span.setAttribute('error.type', code);
  if (unexpected !== undefined) request.span.recordException(unexpected instanceof Error ? unexpected : String(unexpected));
}

/** `traceparent` (and `tracestate`) of `context`'s span, added to an outgoing request's headers. */
export function injectTraceHeaders(context: Context, headers: Record<string, string>): void {
  propagator.inject(context, headers, defaultTextMapSetter);
}

/**
 * Runs `run` in a child span of `parent`: ended when it settles, with the attributes `outcome`
 * derives from its value, or recording the exception with status ERROR when it fails.
 */
export async function inSpan<T>(tracer: Tracer, parent: Context, name: string, kind: SpanKind, attributes: Attributes, run: (context: Context) => Promise<T>, outcome?: (value: T) => Attributes): Promise<T> {
  const span = tracer.startSpan(name, { kind, attributes }, parent);
  try {
    const value = await run(trace.setSpan(parent, span));
    if (outcome) span.setAttributes(outcome(value));
    return value;
  } catch (error) {
    recordFailure(span, error);
    throw error;
  } finally {
    span.end();
  }
}

/** A span for something already over whose duration is known (an fdatasync): explicit times, performance.now() based. */
export function pastSpan(tracer: Tracer, parent: Context, name: string, endMs: number, durationMs: number, attributes: Attributes): void {
  tracer.startSpan(name, { kind: SpanKind.INTERNAL, startTime: endMs - durationMs, attributes }, parent).end(endMs);
}

function recordFailure(span: Span, error: unknown): void {
  const failure = error instanceof Error ? error : new Error(String(error));
  span.recordException(failure);
  const code = (failure as { code?: unknown }).code;
  span.setAttribute('error.type', typeof code === 'string' ? code : failure.name);
  span.setStatus({ code: SpanStatusCode.ERROR, message: failure.message });
}
