export * from './hash.js';
export * from './errors.js';
export * from './limits.js';
export { canonicalNodes, type RingNode } from './nodes.js';
export { vnodeKey } from './tokens.js';
export * from './ranges.js';
export * from './ring.js';
export * from './diff.js';
export * from './serialize.js';
