/**
 * Fast start in a browser: the first Python engine of a page boots from scratch and takes
 * a memory snapshot; later engines of the page restore it (kept in memory, not on disk).
 */
import { describe, expect, it } from 'vitest';
import { createEngine, InvalidInputError, UnavailableError } from '../../src/index.js';
import { snapshotCounts } from '../../src/placement/snapshot.js';

describe('Python snapshots in a browser', () => {
  it('a second engine of the page restores the snapshot the first one took', async () => {
    const before = snapshotCounts();
    const first = await createEngine('python');
    const second = await createEngine('python', { capabilities: ['echo'], hostFunctions: { echo: (x) => x } });
    try {
      const after = snapshotCounts();
      expect(after.built - before.built + after.restored - before.restored).toBe(2);
      expect(after.restored - before.restored).toBeGreaterThanOrEqual(1);
      expect((await second.exec('import host\nhost.echo([1, "x"])')).value).toEqual([1, 'x']);
      expect((await second.exec('import js')).error?.type).toBe('ModuleNotFoundError');
      const draw = 'import random\nrandom.getrandbits(64)';
      expect((await second.exec(draw)).value).not.toEqual((await first.exec(draw)).value);
    } finally {
      await first.dispose();
      await second.dispose();
    }
  }, 120_000);

  it('snapshot: { dir } needs Node; bad values are refused', async () => {
    await expect(createEngine('python', { snapshot: { dir: '/tmp/x' } })).rejects.toBeInstanceOf(UnavailableError);
    await expect(createEngine('python', { snapshot: 'on' as never })).rejects.toBeInstanceOf(InvalidInputError);
  });
});
