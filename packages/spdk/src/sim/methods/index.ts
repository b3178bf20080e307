// Every method spdk-sim answers.
import type { SimMethod } from '../method.js';
import { bdevMethods } from './bdev.js';
import { frameworkMethods } from './framework.js';
import { lvolMethods } from './lvol.js';
import { nvmeMethods } from './nvme.js';
import { nvmfMethods } from './nvmf.js';
import { simControlMethods } from './sim-control.js';

export const SIM_METHODS: readonly SimMethod[] = [...frameworkMethods, ...bdevMethods, ...nvmeMethods, ...lvolMethods, ...nvmfMethods, ...simControlMethods];
export { SIM_SPDK_VERSION } from './framework.js';
