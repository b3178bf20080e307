export * from './config.js';
export * from './version.js';
export * from './consistency.js';
export * from './node.js';
export { OPENAPI_DOCUMENT } from './openapi.js';
