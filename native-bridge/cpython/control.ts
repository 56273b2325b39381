/**
 * An engine's control block: eight doubles owned by Python (hub.py allocates them, so the
 * watchdog never reads memory a dead worker freed), written by JS through a koffi view.
 * Plain stores suffice: the watchdog reads them holding the GIL, and JS changes
 * C_RUNNING only while its thread holds the GIL too. The indexes are watchdog.py's C_*.
 */
import { koffi } from '../../src/node/native-libs.js';

/** 1 while a request runs. */
export const C_RUNNING = 0;
/** The request's deadline, in Python's time.monotonic() milliseconds. */
export const C_DEADLINE = 1;
/** Why the watchdog stopped the request (the interrupt word's codes: 1, 2, 3), or 0. */
export const C_STOP = 2;
/** threading.get_ident() of the thread running the request. */
export const C_IDENT = 3;
/** A copy of the interrupt word, for words whose memory has no stable address. */
export const C_WORD = 4;
/** 1 while Python holds printed text JS has not taken. */
export const C_PENDING = 5;
/** 1 when the request streams its output. */
export const C_STREAM = 6;
/** A number that changes with every request (resets the output count). */
export const C_SEQ = 7;
const C_SIZE = 8;

/** A Float64Array over Python-owned memory at `addr`. */
export function viewDoubles(addr: number, count = C_SIZE): Float64Array {
  return new Float64Array(koffi().view(addr, count * 8) as ArrayBuffer);
}
