/** Every Lua entry of the escape corpus, against the worker and the process placements. */
import { describeCorpus } from './corpus.js';

describeCorpus({
  language: 'lua',
  title: 'Lua',
  minEntries: 20,
  limits: { timeoutMs: 3000, memoryBytes: 64 * 1024 * 1024, graceMs: 500 },
  probes: [
    ['return 1 + 1', 2],
    ['return ("abc"):upper()', 'ABC'],
    ['return undefined_name_xyz', null],
    ['return host.greet("x")', 'hello x'],
  ],
});
