// The README's API tour, runnable: `npx tsx examples/api-tour.ts` (test/examples.test.ts runs it).
import { createEngine } from '../src/index.js';

export async function apiTour() {
  await using engine = await createEngine('lua', {
    capabilities: ['users.read'],
    hostFunctions: {
      'users.get': { fn: async (id) => ({ id, name: 'Ann' }), capability: 'users.read' },
    },
    limits: { timeoutMs: 1000, memoryBytes: 32 * 1024 * 1024 },
  });
  const r = await engine.exec('x = 20\nprint("hi")\nreturn x + 1');
  const bad = await engine.exec('error("nope")');
  await engine.load('geom = {}\nfunction geom.area(w, h) return w * h end', 'geom');
  const area = await engine.call('geom.area', [3, 4]);
  const name = await engine.exec('return host.users.get(42).name');
  return { r, bad, area, name: name.value };
}
