/** The MCP server's settings (src/mcp/config.ts) and result shaping (src/mcp/result.ts): safe defaults, exact messages. */
import { describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG, checkConfig, parseMount, resolveConfig } from '../../src/mcp/config.js';
import { toolResult } from '../../src/mcp/result.js';
import { splitCommand } from '../../src/mcp/upstream.js';
import type { ExecResult } from '../../src/engine/types.js';
import type { ScriptValue } from '../../src/values.js';

describe('MCP server settings', () => {
  it('defaults are safe: no capability, no host, no mount, process placement', () => {
    const c = resolveConfig();
    expect(c).toMatchObject({ placement: 'process', capabilities: [], allowedHosts: [], mounts: [], upstream: [] });
    expect(c).toEqual({ ...DEFAULT_CONFIG });
  });

  it('layers settings: the later layer wins', () => {
    const c = resolveConfig(
      checkConfig({ timeoutMs: 1000, capabilities: ['kv.*'] }, 'scriptbox.json'),
      checkConfig({ timeoutMs: 2000 }, '--timeout'),
    );
    expect(c.timeoutMs).toBe(2000);
    expect(c.capabilities).toEqual(['kv.*']);
  });

  it('rejects bad settings with messages naming the key, the problem and the fix', () => {
    const cases: [unknown, string][] = [
      [[], 'scriptbox.json must hold a JSON object of settings'],
      [{ timeout: 5 }, "scriptbox.json: unknown setting 'timeout'; the settings are placement, timeoutMs,"],
      [
        { placement: 'inline' },
        "scriptbox.json: placement 'inline' runs scripts on the server's own thread, which does not isolate them; use 'process' or 'worker'",
      ],
      [{ placement: 'moon' }, `scriptbox.json: placement must be 'process' or 'worker' (got "moon")`],
      [{ timeoutMs: -1 }, 'scriptbox.json: timeoutMs must be an integer from 1 to 2147483647 (got -1)'],
      [{ memoryMb: '256' }, `scriptbox.json: memoryMb must be an integer from 16 to 16384 (got "256")`],
      [{ maxSessions: 5000 }, 'scriptbox.json: maxSessions must be an integer from 0 to 1024 (got 5000)'],
      [{ capabilities: ['kv.*', 'bad pattern'] }, `scriptbox.json: capabilities: "bad pattern" is not a capability pattern`],
      [{ allowedHosts: 'example.com' }, `scriptbox.json: allowedHosts must be a list of strings (got "example.com")`],
      [{ mounts: [{ hostPath: '/tmp' }] }, 'scriptbox.json: mounts[0] must be { "hostPath": "...", "path": "/data", "readOnly": true }'],
      [{ mounts: [{ hostPath: '/tmp', path: '/d', rw: true }] }, 'scriptbox.json: mounts[0].rw is unknown; use hostPath, path, readOnly'],
    ];
    for (const [raw, message] of cases) expect(() => checkConfig(raw, 'scriptbox.json'), JSON.stringify(raw)).toThrow(message);
    expect(() => resolveConfig({ timeoutMs: 5000, maxTimeoutMs: 1000 })).toThrow(
      'timeoutMs (5000) is over maxTimeoutMs (1000); lower timeoutMs or raise maxTimeoutMs',
    );
  });

  it('parses --mount and --upstream forms', () => {
    expect(parseMount('--mount', '/srv/data:/data:ro')).toEqual({ hostPath: '/srv/data', path: '/data', readOnly: true });
    expect(parseMount('--mount', '/srv/data:/data')).toEqual({ hostPath: '/srv/data', path: '/data' });
    expect(() => parseMount('--mount', 'data')).toThrow('--mount takes HOSTDIR:/path or HOSTDIR:/path:ro');
    expect(splitCommand(`files=npx -y "my server" 'a b' c\\ d`)).toEqual({ name: 'files', argv: ['npx', '-y', 'my server', 'a b', 'c d'] });
    expect(splitCommand('node server.js')).toEqual({ argv: ['node', 'server.js'] });
    expect(() => splitCommand('node "x')).toThrow('a " quote is not closed');
  });
});

describe('ExecResult as an MCP tool result', () => {
  const base: ExecResult = { success: true, stdout: '', stderr: '', outputs: [], truncated: false, durationMs: 1.234, timedOut: false };

  it('values JSON cannot hold are made JSON: bigints, bytes, maps', () => {
    const r = toolResult({
      ...base,
      value: new Map<ScriptValue, ScriptValue>([
        [1, 2n ** 70n],
        ['b', new Uint8Array([1, 2])],
      ]),
    });
    expect(r.structuredContent?.value).toEqual({ 1: '1180591620717411303424', b: 'AQI=' });
    expect(r.isError).toBeUndefined();
  });

  it('rich outputs become image content (base64) or text; none when the field is absent', () => {
    const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47]);
    const r = toolResult({
      ...base,
      outputs: [
        { mime: 'image/png', data: png },
        { mime: 'text/html', data: '<b>x</b>' },
      ],
    });
    expect(r.content.slice(1)).toEqual([
      { type: 'image', data: Buffer.from(png).toString('base64'), mimeType: 'image/png' },
      { type: 'text', text: '[text/html]\n<b>x</b>' },
    ]);
    expect(toolResult(base).content).toHaveLength(1);
    // An engine from before rich outputs (or a core that sends none) leaves the field out.
    expect(toolResult({ ...base, outputs: undefined } as unknown as ExecResult).content).toHaveLength(1);
  });
});
