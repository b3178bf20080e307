// A stand-in peer for the chaos network test, run inside a peer's namespace: an echo server on
// ADDRESS:PORT, and commands on stdin, one JSON line each, answered with one JSON line on stdout:
//   {"probe": ["10.213.S.11:3000", …]}  → {"reachable": [true, false, …]}  (a new connection each)
//   {"hold": ["…"]}                      → {"held": n}  keeps one connection to each
//   {"echo": ms}                         → {"echoed": [true, …]}  one byte over each held connection,
//                                           its echo awaited at most ms (retransmits after a heal are slow)
// Every wait is bounded (ATTEMPT_TIMEOUT_MS, ECHO_TIMEOUT_MS_MAX). The first line it prints is {"listening": pid}.
import { connect, createServer, type Socket } from 'node:net';
import { createInterface } from 'node:readline';

const ATTEMPT_TIMEOUT_MS = 1_000;
const ECHO_TIMEOUT_MS_MAX = 30_000;
const [address, port] = process.argv.slice(2);
const held: Socket[] = [];

interface Command {
  probe?: string[];
  hold?: string[];
  echo?: number;
}

const server = createServer((socket) => {
  socket.on('data', (data) => socket.write(data));
  socket.on('error', () => undefined);
});
server.listen(Number(port), address, () => say({ listening: process.pid }));

createInterface({ input: process.stdin }).on('line', (line) => void answer(JSON.parse(line) as Command));
process.stdin.on('end', () => process.exit(0));

async function answer(command: Command): Promise<void> {
  if (command.probe) say({ reachable: await Promise.all(command.probe.map(reachable)) });
  if (command.hold) {
    for (const target of command.hold) {
      const socket = await open(target);
      if (socket) held.push(socket);
    }
    say({ held: held.length });
  }
  if (command.echo !== undefined) {
    const timeoutMs = Math.min(command.echo, ECHO_TIMEOUT_MS_MAX);
    say({ echoed: await Promise.all(held.map((socket) => echo(socket, timeoutMs))) });
  }
}

async function reachable(target: string): Promise<boolean> {
  const socket = await open(target);
  socket?.destroy();
  return socket !== undefined;
}

function open(target: string): Promise<Socket | undefined> {
  const [host, targetPort] = target.split(':');
  return new Promise((resolve) => {
    const socket = connect({ host: host!, port: Number(targetPort) });
    const fail = () => {
      socket.destroy();
      resolve(undefined);
    };
    const timer = setTimeout(fail, ATTEMPT_TIMEOUT_MS);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeListener('error', fail);
      socket.on('error', () => undefined);
      resolve(socket);
    });
    socket.once('error', () => {
      clearTimeout(timer);
      fail();
    });
  });
}

function echo(socket: Socket, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    if (socket.destroyed) return resolve(false);
    const timer = setTimeout(() => {
      socket.removeListener('data', back);
      resolve(false);
    }, timeoutMs);
    const back = () => {
      clearTimeout(timer);
      resolve(true);
    };
    socket.once('data', back);
    socket.write('x');
  });
}

function say(message: object): void {
  process.stdout.write(`${JSON.stringify(message)}\n`);
}
