import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe } from 'vitest';
import { MemoryStore } from '../../src/state/memory.js';
import { SqliteStore } from '../../src/state/sqlite.js';
import type { StoreLimits } from '../../src/state/store.js';
import { storeContract, type OpenStore } from './contract.js';

let dir = '';
let n = 0;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sb-state-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const stores: [string, OpenStore, RegExp][] = [
  ['MemoryStore', async (limits?: StoreLimits) => new MemoryStore(limits), /^MemoryStore is closed/],
  ['SqliteStore', (limits?: StoreLimits) => SqliteStore.open(join(dir, `s${n++}.db`), limits), /^SqliteStore '.*s\d+\.db' is closed/],
];

describe.each(stores)('%s: the StateStore contract', (_name, open, closedName) => {
  storeContract(open, closedName);
});
