/**
 * What `host.log` may write to the host's console: at most {@link MAX_LOG_CHARS} characters,
 * with control characters escaped, so a script cannot flood the host's stderr or drive its
 * terminal (ESC sequences, CR overwrites, bidi overrides that reorder what is shown).
 */

/** Longest log message kept, in characters (UTF-16 code units) after escaping. */
export const MAX_LOG_CHARS = 8192;

// C0 and C1 controls except \n and \t, DEL, bidi embeddings/overrides/isolates, and lone surrogates.
const UNSAFE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]|\p{Cs}/u;

function escapeChar(c: string): string {
  const code = c.charCodeAt(0);
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
}

/**
 * The message as the host shows it: controls escaped (`\x1b`, `\r` as `\x0d`; `\n` and `\t`
 * kept), cut to MAX_LOG_CHARS with `…[cut N characters]` saying how much of the input was left out.
 */
export function safeLogText(message: string, max = MAX_LOG_CHARS): string {
  let out = '';
  let i = 0;
  for (; i < message.length && out.length < max; i++) {
    const c = message[i]!;
    const code = c.charCodeAt(0);
    // A well-formed surrogate pair passes as one character.
    if (code >= 0xd800 && code <= 0xdbff && i + 1 < message.length) {
      const next = message.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        if (out.length + 2 > max) break;
        out += c + message[i + 1];
        i++;
        continue;
      }
    }
    const piece = UNSAFE.test(c) ? escapeChar(c) : c;
    if (out.length + piece.length > max) break;
    out += piece;
  }
  const cut = message.length - i;
  return cut > 0 ? `${out}…[cut ${cut} characters]` : out;
}
