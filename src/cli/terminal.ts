/**
 * What `scriptbox run` gives a script as its terminal and its display: `onInput` reading
 * lines from the CLI's standard input (a TTY or a pipe alike, through node:readline), and
 * `--outputs DIR` writing each rich output to a file.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface, type Interface } from 'node:readline';
import type { Readable } from 'node:stream';
import type { RichOutput } from '../engine/types.js';

/**
 * An onInput that reads `input` line by line, opened on the first read (a script that never
 * reads leaves stdin alone). Answers null at end of input. `close()` lets the process exit.
 */
export function lineReader(input: Readable): { onInput: () => Promise<string | null>; close(): void } {
  let rl: Interface | undefined;
  let lines: AsyncIterator<string> | undefined;
  return {
    async onInput() {
      if (!lines) {
        rl = createInterface({ input, crlfDelay: Infinity, terminal: false });
        lines = rl[Symbol.asyncIterator]();
      }
      const next = await lines.next();
      return next.done ? null : next.value;
    },
    close() {
      rl?.close();
    },
  };
}

const EXTENSIONS: Record<string, string> = {
  'image/png': 'png',
  'image/jpeg': 'jpg',
  'image/gif': 'gif',
  'image/webp': 'webp',
  'image/svg+xml': 'svg',
  'text/html': 'html',
  'text/markdown': 'md',
  'text/plain': 'txt',
  'text/csv': 'csv',
  'application/json': 'json',
  'application/pdf': 'pdf',
};

/** The file name of the `n`th output (1-based): `output-1.png`, `output-2.html`; unknown types get `.bin` (binary) or `.txt` (text). */
export function outputFileName(n: number, o: RichOutput): string {
  return `output-${n}.${EXTENSIONS[o.mime] ?? (typeof o.data === 'string' ? 'txt' : 'bin')}`;
}

/** Writes every output into `dir` (made if missing) and answers the paths written, in order. */
export async function writeOutputs(dir: string, outputs: RichOutput[]): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const paths: string[] = [];
  for (const [i, o] of outputs.entries()) {
    const path = join(dir, outputFileName(i + 1, o));
    await writeFile(path, o.data);
    paths.push(path);
  }
  return paths;
}
