/**
 * The escape corpus (Python and Lua) against an engine restored from a session snapshot
 * (issue 23): a restored heap is sealed already, with its own devices, files and host
 * module set up again, and every attempt must be contained as in an engine that booted.
 * Worker placement (the process placement runs the same restore code; the corpus runs
 * there on booted engines in python-corpus.test.ts and lua-corpus.test.ts).
 */
import { LUA_RUN, PYTHON_RUN, describeCorpus } from './corpus.js';

describeCorpus({
  ...PYTHON_RUN,
  probes: [...PYTHON_RUN.probes, ['kept', 'state']],
  bootTimeoutMs: 90_000,
  placements: ['worker'],
  fromSession: 'import json, collections\nkept = "state"\nopen("/tmp/session-file.txt", "w").write("x")\ndef helper(n):\n    return n * 2',
});

describeCorpus({
  ...LUA_RUN,
  probes: [...LUA_RUN.probes, ['return kept', 'state']],
  placements: ['worker'],
  fromSession:
    'kept = "state"\nfunction helper(n) return n * 2 end\nlocal words = {}\nfor w in string.gmatch("a b", "%a") do words[#words + 1] = w end',
});
