/** Every Lua entry of the escape corpus, against the worker and the process placements. */
import { LUA_RUN, describeCorpus } from './corpus.js';

describeCorpus(LUA_RUN);
