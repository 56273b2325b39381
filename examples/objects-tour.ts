// README "Objects, async and cancellation", runnable: `npx tsx examples/objects-tour.ts`
// (test/examples.test.ts runs it).
import { AbortError, createEngine, type RemoteObject } from '../src/index.js';

export async function objectsTour() {
  await using py = await createEngine('python', {
    capabilities: ['prices.*'],
    hostFunctions: { 'prices.get': async (sku: string) => ({ sku, price: sku.length * 10 }) },
  });
  await py.load(
    `
import asyncio, host

class Cart:
    def __init__(self, owner):
        self.owner = owner
        self.items = []
    def add(self, sku, qty=1):
        self.items.append((sku, qty))
        return len(self.items)
    async def total(self):
        # host.aio: the host calls run concurrently; their JS promises settle in this loop
        prices = await asyncio.gather(*(host.aio.prices.get(sku) for sku, _ in self.items))
        return sum(p['price'] * qty for p, (_, qty) in zip(prices, self.items))
    def checker(self):
        return lambda sku: any(s == sku for s, _ in self.items)

class shop:
    Cart = Cart
`,
    'shop.py',
  );

  // A remote object: methods, attributes, async methods, dispose (or `await using`).
  await using cart = await py.create('shop.Cart', ['ann']);
  await cart.call('add', ['apple', 2]);
  await cart.call('add', ['kiwi']);
  const owner = await cart.get('owner'); // 'ann'
  const total = await cart.call('total'); // 2*50 + 40 = 140
  // A result with no value form (here a function) comes back as a RemoteObject too.
  const has = (await cart.call('checker')) as RemoteObject;
  const hasKiwi = await has.call('__call__', ['kiwi']); // true
  await has.dispose();

  // Cancellation: abort a running call; the calls queued behind it still run.
  const ac = new AbortController();
  const endless = py.exec('while True:\n    pass', { signal: ac.signal });
  const next = py.exec('6 * 7');
  setTimeout(() => ac.abort(new Error('user pressed Stop')), 50);
  const stopped = await endless.catch((e: unknown) => e);
  const aborted = stopped instanceof AbortError && stopped.name === 'AbortError';
  const after = (await next).value; // 42

  // Lua: a table with methods, made by its constructor Rect.new.
  await using lua = await createEngine('lua');
  await lua.load(`
Rect = {}
Rect.__index = Rect
function Rect.new(w, h) return setmetatable({ w = w, h = h }, Rect) end
function Rect:area() return self.w * self.h end
function Rect:scaled(k) return Rect.new(self.w * k, self.h * k) end
function area_of(r) return r:area() end
`);
  await using rect = await lua.create('Rect', [2, 3]);
  const area = await rect.call('area'); // 6
  const big = (await rect.call('scaled', [10])) as RemoteObject; // another RemoteObject
  const bigArea = await lua.call('area_of', [big]); // 600: passed back, it is the table itself
  await big.dispose();
  const handles = (await lua.stats()).handles; // 1 (rect)
  return { owner, total, hasKiwi, aborted, after, area, bigArea, handles };
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(await objectsTour());
