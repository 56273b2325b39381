// A Lua rule calls a Python function through a host function that forwards to another
// engine. Run: `npx tsx examples/cross-language.ts` (test/examples.test.ts runs it).
import { createEngine } from '../src/index.js';

export async function crossLanguage() {
  await using py = await createEngine('python');
  await py.load('def score(order):\n    return order["total"] * 0.5 + len(order["items"]) * 10\n', 'scoring.py');

  await using lua = await createEngine('lua', {
    capabilities: ['scoring'],
    hostFunctions: {
      // Plain data in, plain data out: the Lua engine never sees the Python engine.
      'py.score': { fn: (order) => py.call('score', [order]), capability: 'scoring' },
    },
  });
  await lua.load(
    `
    function approve(order)
      local s = host.py.score(order)
      return { approved = s >= 60, score = s }
    end`,
    'rule.lua',
  );
  const big = await lua.call('approve', [{ total: 100, items: ['a', 'b'] }]);
  const small = await lua.call('approve', [{ total: 20, items: ['a'] }]);
  return { big, small };
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(await crossLanguage());
