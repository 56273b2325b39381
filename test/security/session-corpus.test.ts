/**
 * The escape corpus (Python and Lua) against an engine restored from a session snapshot (issue 23):
 * a restored heap is sealed already, with its own devices, files and host module set up
 * again, and every attempt must be contained as in an engine that booted. Worker
 * placement (the process placement runs the same restore code; the corpus runs there on
 * booted engines in python-corpus.test.ts).
 */
import { describeCorpus } from './corpus.js';

describeCorpus({
  language: 'python',
  title: 'Python',
  minEntries: 30,
  limits: { timeoutMs: 4000, memoryBytes: 256 * 1024 * 1024, graceMs: 500 },
  probes: [
    ['1 + 1', 2],
    ['import host\nhost.greet("x")', 'hello x'],
    ['kept', 'state'],
  ],
  bootTimeoutMs: 90_000,
  attemptTimeoutMs: 30_000,
  placements: ['worker'],
  fromSession: 'import json, collections\nkept = "state"\nopen("/tmp/session-file.txt", "w").write("x")\ndef helper(n):\n    return n * 2',
});

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
    ['return kept', 'state'],
  ],
  placements: ['worker'],
  fromSession:
    'kept = "state"\nfunction helper(n) return n * 2 end\nlocal words = {}\nfor w in string.gmatch("a b", "%a") do words[#words + 1] = w end',
});
