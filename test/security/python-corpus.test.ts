/** Every Python entry of the escape corpus, against the worker and the process placements. */
import { PYTHON_RUN, describeCorpus } from './corpus.js';

describeCorpus(PYTHON_RUN);
