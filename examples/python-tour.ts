// The README's Python tour, runnable: `npx tsx examples/python-tour.ts` (test/examples.test.ts runs it).
import { createEngine } from '../src/index.js';

export async function pythonTour() {
  await using py = await createEngine('python', {
    capabilities: ['users.read'],
    hostFunctions: { 'users.get': { fn: async (id) => ({ id, name: 'Ann' }), capability: 'users.read' } },
  });
  const user = await py.exec('import host\nuser = host.users.get(42)\nuser["name"]');
  const awaited = await py.exec('import asyncio\nawait asyncio.sleep(0.1)\n"top-level await works"');
  await py.load('async def area(w, h):\n    return w * h\n', 'geom.py');
  const area = await py.call('area', [3, 4]);
  return { name: user.value, awaited: awaited.value, area };
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(await pythonTour());
