/**
 * Calling Python from JS through the C API, holding the GIL: arguments from JS strings,
 * numbers and booleans (or objects), results as text, and escaped exceptions described
 * and cleared (a Python error must never stay set, nor surface as a C-level failure).
 */
import { takeException, type Ptr, type ThreadPython } from './lib.js';

/** An exception that escaped a call, as a crash description. */
export type Escaped = { crash: { type: string; message: string } };

/** Calls `fn` with strings, integers and booleans: a new reference, or 0 with an error set. */
export function callArgs(t: ThreadPython, fn: Ptr, args: (string | number | boolean)[]): Ptr {
  const api = t.api;
  const tuple = api.PyTuple_New(args.length);
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    let p: Ptr;
    if (typeof a === 'string') {
      // With its length: a JS string may hold NUL, which a C string would cut.
      const b = Buffer.from(a, 'utf8');
      p = api.PyUnicode_DecodeUTF8(b, b.length, 'surrogateescape');
    } else if (typeof a === 'boolean') p = api.PyBool_FromLong(a ? 1 : 0);
    else p = Number.isSafeInteger(a) ? api.PyLong_FromLongLong(a) : api.PyFloat_FromDouble(a);
    if (!p) {
      api.Py_DecRef(tuple);
      return 0;
    }
    api.PyTuple_SetItem(tuple, i, p);
  }
  const r = api.PyObject_Call(fn, tuple, 0);
  api.Py_DecRef(tuple);
  return r;
}

/** Calls `fn` with objects (borrowed references): a new reference, or 0 with an error set. */
export function callObjs(t: ThreadPython, fn: Ptr, objs: Ptr[]): Ptr {
  const api = t.api;
  const tuple = api.PyTuple_New(objs.length);
  for (let i = 0; i < objs.length; i++) {
    api.Py_IncRef(objs[i]!);
    api.PyTuple_SetItem(tuple, i, objs[i]!);
  }
  const r = api.PyObject_Call(fn, tuple, 0);
  api.Py_DecRef(tuple);
  return r;
}

/** Text of a str result (the runtime's replies are ASCII JSON), consuming the reference. */
export function takeText(t: ThreadPython, r: Ptr): string {
  const s = t.api.PyUnicode_AsUTF8(r) ?? 'null';
  t.api.Py_DecRef(r);
  return s;
}

/** The exception that escaped a call, described and cleared. */
export function escaped(t: ThreadPython): Escaped {
  const api = t.api;
  const e = takeException(api);
  if (!e) return { crash: { type: 'SystemError', message: 'a Python call failed without an exception' } };
  const r = callObjs(t, t.attr('describe'), [e]);
  api.Py_DecRef(e);
  if (!r) {
    api.PyErr_Clear();
    return { crash: { type: 'SystemError', message: 'a Python call failed and its exception could not be described' } };
  }
  return { crash: JSON.parse(takeText(t, r)) as Escaped['crash'] };
}

/** A call that must succeed (setup, bookkeeping): throws with the Python error otherwise. */
export function must(t: ThreadPython, r: Ptr): void {
  if (!r) throw new Error(escaped(t).crash.message);
  t.api.Py_DecRef(r);
}

/** Drops a result; a failure is cleared (bookkeeping whose failure changes nothing). */
export function quiet(t: ThreadPython, r: Ptr): void {
  if (r) t.api.Py_DecRef(r);
  else t.api.PyErr_Clear();
}

/** An attribute (new reference), or an Error naming it. */
export function getattr(t: ThreadPython, o: Ptr, name: string): Ptr {
  const p = t.api.PyObject_GetAttrString(o, name);
  if (!p) throw new Error(`the Python runtime has no ${name}: ${escaped(t).crash.message}`);
  return p;
}
