/** How values, sizes and times read in the playground. */
import type { Language, ScriptValue } from '../../src/index.js';

/** A result value as the script's language would write it, roughly. */
export function formatValue(v: ScriptValue | undefined, lang: Language, indent = ''): string {
  const none = lang === 'python' ? 'None' : 'nil';
  if (v === undefined || v === null) return none;
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'boolean') return lang === 'python' ? (v ? 'True' : 'False') : String(v);
  if (typeof v === 'number' || typeof v === 'bigint') return String(v);
  if (v instanceof Uint8Array) {
    const shown = Array.from(v.subarray(0, 64), (b) =>
      b >= 32 && b < 127 && b !== 92 && b !== 39 ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`,
    ).join('');
    return `b'${shown}${v.length > 64 ? '…' : ''}'`;
  }
  if (v instanceof Date) return v.toISOString();
  const inner = indent + '  ';
  if (Array.isArray(v)) {
    if (v.length === 0) return lang === 'python' ? '[]' : '{}';
    const items = v.map((x) => formatValue(x as ScriptValue, lang, inner));
    const flat = items.join(', ');
    const [open, close] = lang === 'python' ? ['[', ']'] : ['{', '}'];
    return flat.length < 70 && !flat.includes('\n')
      ? `${open}${flat}${close}`
      : `${open}\n${inner}${items.join(`,\n${inner}`)}\n${indent}${close}`;
  }
  const entries: [string, ScriptValue][] =
    v instanceof Map
      ? [...v].map(([k, x]) => [formatValue(k as ScriptValue, lang), x as ScriptValue])
      : Object.entries(v as Record<string, ScriptValue>).map(([k, x]) => [lang === 'python' ? JSON.stringify(k) : k, x]);
  if (entries.length === 0) return '{}';
  const sep = lang === 'python' ? ': ' : ' = ';
  const items = entries.map(([k, x]) => `${k}${sep}${formatValue(x, lang, inner)}`);
  const flat = items.join(', ');
  return flat.length < 70 && !flat.includes('\n') ? `{${flat}}` : `{\n${inner}${items.join(`,\n${inner}`)}\n${indent}}`;
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

export function formatMs(ms: number): string {
  if (ms < 1) return `${(ms * 1000).toFixed(0)} µs`;
  if (ms < 1000) return `${ms.toFixed(ms < 10 ? 1 : 0)} ms`;
  return `${(ms / 1000).toFixed(2)} s`;
}

/** Text content as code: the common indentation and the blank first/last lines removed. */
export function dedent(text: string): string {
  const lines = text.replace(/\r\n?/g, '\n').split('\n');
  while (lines.length && !lines[0]!.trim()) lines.shift();
  while (lines.length && !lines[lines.length - 1]!.trim()) lines.pop();
  const widths = lines.filter((l) => l.trim()).map((l) => l.match(/^[ \t]*/)![0].length);
  const cut = widths.length ? Math.min(...widths) : 0;
  return lines.map((l) => l.slice(cut)).join('\n') + (lines.length ? '\n' : '');
}
