/**
 * Direct C API conversions for the fast path of `call`: None, bool, int (safe), float,
 * str and small lists of those, both ways, with no JSON. Anything else (a dict, a big
 * int, a handle, a string holding NUL or lone surrogates, a coroutine, an instance) is
 * left to the wire path, so both paths give the same values.
 */
import type { ScriptValue } from '../../src/values.js';
import { koffi } from '../../src/node/native-libs.js';
import type { Ptr, ThreadPython } from './lib.js';

/** The Python object is not simple: use the wire path. */
export const FALLBACK: unique symbol = Symbol('fallback');

const MAX_ITEMS = 64;
const MAX_DEPTH = 2;
const AWKWARD = /[\0\uD800-\uDFFF]/;

/** Whether a JS value converts here (checked before anything is allocated). */
export function isSimple(v: unknown, depth = 0): boolean {
  switch (typeof v) {
    case 'boolean':
    case 'undefined':
      return true;
    case 'number':
      // An integral number past 2^53 is an int on the wire, and this path has no exact converter.
      return !Number.isInteger(v) || Number.isSafeInteger(v);
    case 'string':
      return !AWKWARD.test(v);
    case 'object':
      if (v === null) return true;
      if (!Array.isArray(v) || depth >= MAX_DEPTH || v.length > MAX_ITEMS) return false;
      for (const x of v) if (!isSimple(x, depth + 1)) return false;
      return true;
  }
  return false;
}

/** Converters bound to one thread's interpreter view. */
export class FastValues {
  private readonly intType: Ptr;
  private readonly floatType: Ptr;
  private readonly strType: Ptr;
  private readonly listType: Ptr;
  private readonly tupleType: Ptr;
  private readonly size = [0];
  private readonly decode = koffi().decode;

  constructor(private readonly t: ThreadPython) {
    this.intType = t.attr('INT');
    this.floatType = t.attr('FLOAT');
    this.strType = t.attr('STR');
    this.listType = t.attr('LIST');
    this.tupleType = t.attr('TUPLE');
  }

  /** A new reference for a value that passed isSimple (0 if Python ran out of memory). */
  toPy(v: ScriptValue | undefined): Ptr {
    const api = this.t.api;
    if (v === null || v === undefined) {
      api.Py_IncRef(this.t.none);
      return this.t.none;
    }
    switch (typeof v) {
      case 'boolean':
        return api.PyBool_FromLong(v ? 1 : 0);
      case 'number':
        return Number.isInteger(v) ? api.PyLong_FromLongLong(v) : api.PyFloat_FromDouble(v);
      case 'string':
        return api.PyUnicode_FromString(v);
    }
    const items = v as ScriptValue[];
    const list = api.PyList_New(items.length);
    if (!list) return 0;
    for (let i = 0; i < items.length; i++) {
      const x = this.toPy(items[i]);
      if (!x) {
        api.Py_DecRef(list);
        return 0;
      }
      api.PyList_SetItem(list, i, x);
    }
    return list;
  }

  /** The JS value of a Python object (borrowed), or FALLBACK. Leaves no Python error set. */
  fromPy(o: Ptr, depth = 0): ScriptValue | typeof FALLBACK {
    const t = this.t;
    if (o === t.none) return null;
    if (o === t.yes) return true;
    if (o === t.no) return false;
    if (t.typeOffset < 0) return FALLBACK;
    const type = this.decode(o, t.typeOffset, 'uintptr_t') as number;
    const api = t.api;
    if (type === this.intType) {
      const d = api.PyLong_AsDouble(o);
      if (Number.isSafeInteger(d)) return d;
      if (d === -1 && api.PyErr_Occurred()) api.PyErr_Clear();
      return FALLBACK;
    }
    if (type === this.floatType) return api.PyFloat_AsDouble(o);
    if (type === this.strType) {
      const p = api.PyUnicode_AsUTF8AndSize(o, this.size);
      if (!p) {
        // Lone surrogates: the wire path escapes them.
        api.PyErr_Clear();
        return FALLBACK;
      }
      return this.size[0] === 0 ? '' : (this.decode.string(p, this.size[0]!) as string);
    }
    const list = type === this.listType;
    if (!list && type !== this.tupleType) return FALLBACK;
    if (depth >= MAX_DEPTH) return FALLBACK;
    const n = list ? api.PyList_Size(o) : api.PyTuple_Size(o);
    if (n > MAX_ITEMS) return FALLBACK;
    const out: ScriptValue[] = new Array(n);
    for (let i = 0; i < n; i++) {
      const x = this.fromPy(list ? api.PyList_GetItem(o, i) : api.PyTuple_GetItem(o, i), depth + 1);
      if (x === FALLBACK) return FALLBACK;
      out[i] = x;
    }
    return out;
  }
}
