/**
 * The wasm backend's Python runtime (wasm/python/boot.ts RUNTIME_SOURCES), adapted for
 * real CPython at load time, wasm/** itself untouched:
 *
 * - The runtime opens `/dev/scriptbox` (a Pyodide device) at import. That one line is
 *   replaced by a sentinel fd (`_SB_DEVICE`, set by the hub before the source runs); the
 *   hub then swaps the module's `os` for a shim whose write/read on that fd are one
 *   exchange with JS over a koffi callback (hub.ts _DeviceOS). So `_request`, the reply
 *   parsing and handle checks stay the wasm runtime's own code, byte for byte.
 * - The lockdown source is left out: native CPython is trusted or OS-isolated, and users
 *   expect the full standard library and their site-packages (ctypes included).
 *
 * A substitution that no longer applies (the wasm runtime changed) fails loudly at boot.
 */
import { RUNTIME_SOURCES } from '../../wasm/python/boot.js';

const DEVICE_OPEN = "_DEV = os.open('/dev/scriptbox', os.O_RDWR)";
const DEVICE_NATIVE = '_DEV = _SB_DEVICE  # native: hub.ts emulates the device over a koffi callback';
const LOCKDOWN = '<scriptbox-lockdown>';

let adapted: string | undefined;

/** The runtime sources for native CPython as JSON `[[name, source], ...]` (computed once). */
export function nativeRuntimeSources(): string {
  if (adapted) return adapted;
  const names = RUNTIME_SOURCES.map(([n]) => n);
  if (!names.includes(LOCKDOWN) || names[0] !== '<scriptbox>') {
    throw new Error(`the wasm runtime sources changed (${names.join(', ')}); native-bridge/cpython/sources.ts must be updated`);
  }
  const out = RUNTIME_SOURCES.filter(([n]) => n !== LOCKDOWN).map(([name, src]) => {
    if (name !== '<scriptbox>') return [name, src];
    const at = src.indexOf(DEVICE_OPEN);
    if (at < 0 || src.indexOf(DEVICE_OPEN, at + 1) >= 0) {
      throw new Error('the wasm runtime no longer opens /dev/scriptbox in one place; native-bridge/cpython/sources.ts must be updated');
    }
    return [name, src.replace(DEVICE_OPEN, DEVICE_NATIVE)];
  });
  adapted = JSON.stringify(out);
  return adapted;
}
