/** Every Python entry of the escape corpus, against the worker and the process placements. */
import { describeCorpus } from './corpus.js';

describeCorpus({
  language: 'python',
  title: 'Python',
  minEntries: 30,
  limits: { timeoutMs: 4000, memoryBytes: 256 * 1024 * 1024, graceMs: 500 },
  probes: [
    ['1 + 1', 2],
    ['import host\nhost.greet("x")', 'hello x'],
  ],
  bootTimeoutMs: 60_000,
  attemptTimeoutMs: 30_000,
});
