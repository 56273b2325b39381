/**
 * A short description of an untrusted value for error messages. It never throws: a
 * message about a bad value must not fail on the value (a bigint, a cycle, a throwing
 * getter or a Proxy would make JSON.stringify throw an untyped error instead).
 */
export function describeValue(v: unknown, max = 100): string {
  let s: string;
  try {
    if (typeof v === 'bigint') s = `${v}n`;
    else if (typeof v === 'symbol') s = v.toString();
    else if (typeof v === 'function') s = 'a function';
    else if (typeof v !== 'object' || v === null) s = typeof v === 'string' ? JSON.stringify(v) : String(v);
    else s = JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? `${x}n` : x)) ?? 'an object';
  } catch {
    s = 'an object that cannot be shown';
  }
  return s.length > max ? `${s.slice(0, max)}...` : s;
}
