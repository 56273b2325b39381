/**
 * Wheels for `install`: the file goes to a temporary path the runtime's install_wheel
 * reads (and deletes). The runtime extracts into the first `site-packages` on sys.path,
 * which the hub points at a folder of this process (hub.py private_site), never the
 * interpreter's own site-packages: an engine must not change the machine's Python. That
 * folder is on the shared sys.path, so every engine of the process sees what one installs.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Writes the wheel to a fresh temporary file and returns its path. */
export function writeWheel(wheel: Uint8Array, name: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'scriptbox-wheel-'));
  const path = join(dir, name.replace(/[^\w.-]/g, '_') || 'package.whl');
  writeFileSync(path, wheel);
  return path;
}
