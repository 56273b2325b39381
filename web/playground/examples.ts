/** The examples menu: scripts from the repository's examples/ folder, read as text by Vite. */
import type { Language } from '../../src/index.js';
import asyncHostPy from '../../examples/async-host.py?raw';
import builtinsLua from '../../examples/builtins.lua?raw';
import builtinsPy from '../../examples/builtins.py?raw';
import counterLua from '../../examples/counter.lua?raw';
import counterPy from '../../examples/counter.py?raw';
import errorsPy from '../../examples/errors.py?raw';
import foreverLua from '../../examples/forever.lua?raw';
import fetchPy from '../../examples/fetch.py?raw';
import foreverPy from '../../examples/forever.py?raw';
import helloLua from '../../examples/hello.lua?raw';
import helloPy from '../../examples/hello.py?raw';

export interface Example {
  id: string;
  title: string;
  language: Language;
  code: string;
  /** Toggles the example needs to succeed. */
  needs: string[];
}

export const EXAMPLES: Example[] = [
  { id: 'hello.py', title: 'Hello', language: 'python', code: helloPy, needs: [] },
  { id: 'counter.py', title: 'Shared kv counter', language: 'python', code: counterPy, needs: ['kv'] },
  { id: 'builtins.py', title: 'Built-in host functions', language: 'python', code: builtinsPy, needs: ['log', 'kv', 'channel'] },
  { id: 'async-host.py', title: 'host.aio with asyncio', language: 'python', code: asyncHostPy, needs: ['kv'] },
  { id: 'fetch.py', title: 'host.fetch to this page', language: 'python', code: fetchPy, needs: ['fetch', 'config'] },
  { id: 'errors.py', title: 'An error with a traceback', language: 'python', code: errorsPy, needs: [] },
  { id: 'forever.py', title: 'Endless loop (try Stop)', language: 'python', code: foreverPy, needs: [] },
  { id: 'hello.lua', title: 'Hello', language: 'lua', code: helloLua, needs: [] },
  { id: 'counter.lua', title: 'Shared kv counter', language: 'lua', code: counterLua, needs: ['kv'] },
  { id: 'builtins.lua', title: 'Built-in host functions', language: 'lua', code: builtinsLua, needs: ['log', 'kv', 'channel'] },
  { id: 'forever.lua', title: 'Endless loop (try Stop)', language: 'lua', code: foreverLua, needs: [] },
];
