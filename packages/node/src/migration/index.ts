// Migration planning and coordination (DESIGN §6), pure: no I/O, no timers. The node's I/O layer
// feeds MigrationCoordinatorFsm and performs its actions; the write path uses the dual quorum.
export * from './record.js';
export * from './plan.js';
export * from './dual-quorum.js';
export * from './protocol.js';
export { OutgoingTransfers, type TransferAttempt } from './outgoing.js';
export { MigrationCoordinatorFsm, type CoordinatorConfig } from './coordinator-fsm.js';
