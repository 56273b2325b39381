/** Node file access for loadFile and the CLI. */
import { readFile } from 'node:fs/promises';
import { InvalidInputError } from '../errors.js';

export async function readBytes(path: string | URL): Promise<Uint8Array> {
  try {
    const b = await readFile(path);
    return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const what = code === 'ENOENT' ? 'does not exist' : code === 'EISDIR' ? 'is a directory' : `cannot be read (${code})`;
    throw new InvalidInputError(`wheel file ${String(path)} ${what}; pass the path of a readable .whl file`);
  }
}

export async function readText(path: string | URL): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const what = code === 'ENOENT' ? 'does not exist' : code === 'EISDIR' ? 'is a directory' : `cannot be read (${code})`;
    throw new InvalidInputError(`script file ${String(path)} ${what}; pass the path of a readable file`);
  }
}
