// The native backends: real LuaJIT and CPython behind the same interface.
// Run: `npx tsx examples/native-tour.ts` (test/examples.test.ts runs it).
import { createEngine } from '../src/index.js';

export async function nativeTour() {
  // Trusted code on your own thread: no isolation, fastest calls.
  await using lua = await createEngine('lua', { backend: 'native', placement: 'inline', trusted: true });
  await lua.load('function fib(n) if n < 2 then return n end return fib(n - 1) + fib(n - 2) end');
  const fib = await lua.call('fib', [27]);

  // Code you trust less: a child process under OS limits (the default placement for native).
  await using py = await createEngine('python', { backend: 'native', capabilities: ['log'], onLog: () => {} });
  const sum = (await py.exec('import host, os\nhost.log("hi")\nsum(range(10)) + len(os.environ)')).value;

  // Native where the library is installed and you trust the code, else the wasm sandbox.
  await using any = await createEngine('python', { backend: 'auto', trusted: true });
  return { fib, sum, backend: any.backend, isolated: (await py.stats()).isolation?.applied.includes('no-new-privs') };
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(await nativeTour());
