// One fuzz case over a raw loopback connection: write the case's bytes exactly as given (so malformed
// requests really reach the server), optionally half-close or keep streaming filler, and read the
// first final answer (src/fuzz/http-answer.ts). Bounded in time (the case's answer timeout) and in
// bytes kept (an answer larger than ANSWER_BYTES_MAX is cut and reported malformed).
import { connect, type Socket } from 'node:net';
import type { HttpCase, RenderContext } from '../../src/fuzz/http-cases.js';
import { parseAnswer, type Answer } from '../../src/fuzz/http-answer.js';

const ANSWER_BYTES_MAX = 4 * 1024 * 1024;
const STREAM_PIECE_BYTES = 64 * 1024;

export type Outcome =
  | { type: 'answer'; answer: Answer; elapsedMs: number }
  /** The server closed the connection without a byte of answer. */
  | { type: 'silence'; elapsedMs: number }
  /** Neither an answer nor a close within the case's answer timeout: the server hung. */
  | { type: 'timeout'; received: string; elapsedMs: number }
  | { type: 'malformed'; reason: string; received: string; elapsedMs: number };

export function exchange(port: number, httpCase: HttpCase, context: RenderContext): Promise<Outcome> {
  const chunks = httpCase.render(context);
  const headRequest = chunks[0]?.toString('latin1', 0, 5) === 'HEAD ';
  const started = performance.now();
  return new Promise((resolve) => {
    const socket: Socket = connect({ host: '127.0.0.1', port });
    let received = Buffer.alloc(0);
    let settled = false;
    const elapsed = () => Math.round(performance.now() - started);
    const finish = (outcome: Outcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(outcome);
    };
    const judge = (closed: boolean) => {
      if (closed && received.length === 0) return finish({ type: 'silence', elapsedMs: elapsed() });
      const parsed = parseAnswer(received, { headRequest, closed });
      if (parsed.state === 'complete') finish({ type: 'answer', answer: parsed.answer, elapsedMs: elapsed() });
      else if (parsed.state === 'malformed') finish({ type: 'malformed', reason: parsed.reason, received: preview(received), elapsedMs: elapsed() });
      else if (closed) finish({ type: 'malformed', reason: 'closed before the answer was complete', received: preview(received), elapsedMs: elapsed() });
    };
    const timer = setTimeout(() => finish({ type: 'timeout', received: preview(received), elapsedMs: elapsed() }), httpCase.answerTimeoutMs);
    socket.on('data', (data: Buffer) => {
      if (received.length + data.length > ANSWER_BYTES_MAX) return finish({ type: 'malformed', reason: `answer longer than ${ANSWER_BYTES_MAX} bytes`, received: preview(received), elapsedMs: elapsed() });
      received = Buffer.concat([received, data]);
      judge(false);
    });
    // Writing after the server stopped reading ends in EPIPE or ECONNRESET: the answer, if any, is in `received`.
    socket.on('error', () => undefined);
    socket.on('close', () => judge(true));
    socket.on('connect', () => {
      for (const chunk of chunks) socket.write(chunk);
      if (httpCase.endAfter) socket.end();
      if (httpCase.streamBytes) stream(socket, httpCase.streamBytes, () => settled);
    });
  });
}

/** Writes `bytes` of filler (bounded), following backpressure, until done, answered or closed. */
function stream(socket: Socket, bytes: number, answered: () => boolean): void {
  const piece = Buffer.alloc(STREAM_PIECE_BYTES, 0x5a);
  let left = bytes;
  const more = () => {
    while (left > 0 && !answered() && !socket.destroyed && socket.writable) {
      left -= piece.length;
      if (!socket.write(piece)) return void socket.once('drain', more);
    }
  };
  more();
}

function preview(bytes: Buffer): string {
  return bytes.toString('latin1', 0, 300);
}
