// Minimal types for node-zookeeper-client 1.1.3 (it ships none): only what zk-client.ts uses.
// The library is CommonJS; it is imported as a default import (`module.exports`).
declare module 'node-zookeeper-client' {
  import { EventEmitter } from 'node:events';

  namespace zookeeper {
    /** org.apache.zookeeper.data.Stat; 64-bit fields arrive as 8-byte big-endian Buffers. */
    interface Stat {
      czxid: Buffer;
      mzxid: Buffer;
      ctime: Buffer;
      mtime: Buffer;
      version: number;
      cversion: number;
      aversion: number;
      ephemeralOwner: Buffer;
      dataLength: number;
      numChildren: number;
      pzxid: Buffer;
    }

    class Id {
      constructor(scheme: string, id: string);
      scheme: string;
      id: string;
    }

    class ACL {
      constructor(permission: number, id: Id);
      permission: number;
      id: Id;
      static OPEN_ACL_UNSAFE: ACL[];
      static CREATOR_ALL_ACL: ACL[];
      static READ_ACL_UNSAFE: ACL[];
    }

    interface Event {
      type: number;
      name: string;
      path: string;
      getType(): number;
      getName(): string;
      getPath(): string;
    }

    type Watcher = (event: Event) => void;

    /** An Exception: `code` is ZooKeeper's numeric error code. */
    interface Exception extends Error {
      code: number;
      getCode(): number;
      getName(): string;
      getPath(): string | undefined;
    }

    type Callback<T> = (error: Exception | null | undefined, result: T) => void;

    /** An op queued in a Transaction (the library's internal shape, see Transaction.js). */
    interface TransactionOp {
      type: number;
      path: string;
      version?: number;
    }

    interface TransactionResult {
      type: number;
      path?: string;
      stat?: Stat;
      err?: number;
    }

    class Transaction {
      /** Internal op list; zk-client patches `version` here (see the note there). */
      ops: TransactionOp[];
      create(path: string, data: Buffer | null, acls: ACL[], mode: number): this;
      check(path: string, version: number): this;
      setData(path: string, data: Buffer | null, version: number): this;
      remove(path: string, version: number): this;
      commit(callback: (error: Exception | null | undefined, results: TransactionResult[] | undefined) => void): void;
    }

    interface State {
      name: string;
      code: number;
    }

    interface ClientOptions {
      sessionTimeout?: number;
      spinDelay?: number;
      retries?: number;
      sessionId?: Buffer;
      sessionPassword?: Buffer;
    }

    /** Internal: the connection manager holds the socket (used to force a reconnect). */
    interface ConnectionManager {
      socket?: { destroy(): void };
    }

    class Client extends EventEmitter {
      connectionManager: ConnectionManager;
      connect(): void;
      close(): void;
      getState(): State;
      getSessionId(): Buffer;
      getSessionPassword(): Buffer;
      getSessionTimeout(): number;
      addAuthInfo(scheme: string, auth: Buffer): void;
      create(path: string, data: Buffer | null, acls: ACL[], mode: number, callback: Callback<string>): void;
      remove(path: string, version: number, callback: (error: Exception | null | undefined) => void): void;
      setData(path: string, data: Buffer, version: number, callback: Callback<Stat>): void;
      getData(path: string, watcher: Watcher | undefined, callback: (error: Exception | null | undefined, data: Buffer | undefined, stat: Stat) => void): void;
      exists(path: string, watcher: Watcher | undefined, callback: Callback<Stat | null>): void;
      getChildren(path: string, watcher: Watcher | undefined, callback: (error: Exception | null | undefined, children: string[], stat: Stat) => void): void;
      transaction(): Transaction;
    }

    function createClient(connectionString: string, options?: ClientOptions): Client;

    const Permission: { READ: number; WRITE: number; CREATE: number; DELETE: number; ADMIN: number; ALL: number };
    const CreateMode: { PERSISTENT: number; PERSISTENT_SEQUENTIAL: number; EPHEMERAL: number; EPHEMERAL_SEQUENTIAL: number };
  }

  export = zookeeper;
}
