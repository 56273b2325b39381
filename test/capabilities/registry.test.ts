/**
 * Grants and the host-function registry (src/capabilities/registry.ts), without an engine:
 * what a grant pattern covers, which patterns are valid, and which registrations are refused.
 */
import { describe, expect, it } from 'vitest';
import { HostFunctionRegistry, checkGrantPattern, granted, invoke, stoppable } from '../../src/capabilities/registry.js';
import { InvalidInputError } from '../../src/errors.js';

describe('granted: what a grant pattern covers', () => {
  it.each<[string[], string, boolean]>([
    [['log'], 'log', true],
    [['log'], 'logs', false],
    [['log'], 'log.debug', false],
    [['kv.read'], 'kv.read', true],
    [['kv.read'], 'kv.write', false],
    [['kv.*'], 'kv.read', true],
    [['kv.*'], 'kv.write', true],
    [['kv.*'], 'kv.a.b', true],
    // A family is its dotted children only: not the bare name, not a name that merely starts alike.
    [['kv.*'], 'kv', false],
    [['kv.*'], 'kvx.read', false],
    [['kv.*'], 'kv_read', false],
    [['users.admin.*'], 'users.admin.delete', true],
    [['users.admin.*'], 'users.read', false],
    [['*'], 'anything', true],
    [['*'], 'net.fetch', true],
    [[], 'log', false],
    [['log', 'net.*'], 'net.fetch', true],
    [['log', 'net.*'], 'fs.read', false],
    // Patterns are names, never regular expressions or globs inside a name.
    [['k.*'], 'kv.read', false],
    [['kv.r*'], 'kv.read', false],
    [['Log'], 'log', false],
  ])('%j covers %s: %s', (patterns, capability, expected) => {
    expect(granted(patterns, capability)).toBe(expected);
  });
});

describe('checkGrantPattern', () => {
  it.each(['log', 'kv.read', 'kv.*', 'users.admin.*', '*', '_private', 'a1.b2'])('accepts %s', (p) => {
    expect(checkGrantPattern(p, 'capabilities[0]')).toBe(p);
  });

  it.each<[unknown, string]>([
    ['', '""'],
    ['kv.', '"kv."'],
    ['.kv', '".kv"'],
    ['kv.**', '"kv.**"'],
    ['kv*', '"kv*"'],
    ['*.read', '"*.read"'],
    ['kv.*.read', '"kv.*.read"'],
    ['k v', '"k v"'],
    ['1log', '"1log"'],
    ['log ', '"log "'],
    [42, '42'],
    [null, 'null'],
    [undefined, 'undefined'],
  ])('refuses %j, naming where and the fix', (p, shown) => {
    expect(() => checkGrantPattern(p, 'capabilities[2]')).toThrow(InvalidInputError);
    expect(() => checkGrantPattern(p, 'capabilities[2]')).toThrow(
      `capabilities[2]: ${shown} is not a capability pattern; use a name like 'log', a family like 'kv.*', or '*'`,
    );
  });
});

describe('HostFunctionRegistry', () => {
  const f = () => 1;

  it('a function declares its own name as its capability unless given one', () => {
    const r = new HostFunctionRegistry();
    r.add('users.get', f);
    r.add('users.delete', f, 'users.admin');
    expect(r.get('users.get')).toEqual({ fn: f, capability: 'users.get', builtin: false });
    expect(r.get('users.delete')).toMatchObject({ capability: 'users.admin' });
    expect(r.get('missing')).toBeUndefined();
    expect(r.names()).toEqual(['users.get', 'users.delete']);
    expect(r.capabilities()).toEqual(['users.get', 'users.admin']);
  });

  it('capabilities() lists each capability once', () => {
    const r = new HostFunctionRegistry();
    r.add('a', f, 'shared');
    r.add('b', f, 'shared');
    r.add('log', f, 'log', { builtin: true });
    expect(r.capabilities()).toEqual(['shared', 'log']);
  });

  it('a user function may replace a user function of the same name', () => {
    const r = new HostFunctionRegistry();
    const g = () => 2;
    r.add('f', f);
    r.add('f', g, 'other');
    expect(r.get('f')).toEqual({ fn: g, capability: 'other', builtin: false });
  });

  it.each<[unknown, string]>([
    ['', `host function name "" is not valid; use identifiers joined by dots, like 'users.get'`],
    ['users..get', `host function name "users..get" is not valid; use identifiers joined by dots, like 'users.get'`],
    ['users.*', `host function name "users.*" is not valid; use identifiers joined by dots, like 'users.get'`],
    ['get-user', `host function name "get-user" is not valid; use identifiers joined by dots, like 'users.get'`],
    ['__proto__.x y', `host function name "__proto__.x y" is not valid; use identifiers joined by dots, like 'users.get'`],
    [7, `host function name 7 is not valid; use identifiers joined by dots, like 'users.get'`],
  ])('refuses the name %j', (name, message) => {
    expect(() => new HostFunctionRegistry().add(name, f)).toThrow(message);
  });

  it('refuses a function that is not one, and a capability that is not a dotted name', () => {
    const r = new HostFunctionRegistry();
    expect(() => r.add('f', null)).toThrow(`host function 'f' must be a function (got null)`);
    expect(() => r.add('f', 'code')).toThrow(`host function 'f' must be a function (got string)`);
    for (const capability of ['', 'kv.*', '*', 3]) {
      expect(() => r.add('f', f, capability)).toThrow(`capability of host function 'f' must be a dotted name like 'users.read'`);
    }
    expect(r.names()).toEqual([]);
  });

  it('a built-in cannot be replaced, and no name may be a namespace of another', () => {
    const r = new HostFunctionRegistry();
    r.add('kv.get', f, 'kv.read', { builtin: true });
    r.add('users.get', f);
    expect(() => r.add('kv.get', f)).toThrow(
      `'kv.get' is a built-in host function (grant its capability to use it); register yours under another name`,
    );
    expect(() => r.add('kv', f)).toThrow(`host function 'kv' clashes with the built-in 'kv.get': one cannot be a namespace of the other`);
    expect(() => r.add('kv.get.raw', f)).toThrow(
      `host function 'kv.get.raw' clashes with the built-in 'kv.get': one cannot be a namespace of the other`,
    );
    expect(() => r.add('users', f)).toThrow(`host function 'users' clashes with 'users.get': one cannot be a namespace of the other`);
    expect(() => r.add('users.get.all', f)).toThrow(
      `host function 'users.get.all' clashes with 'users.get': one cannot be a namespace of the other`,
    );
    // Sharing a prefix that is not a whole segment is no clash.
    r.add('kvx', f);
    r.add('users.getAll', f);
    expect(r.get('kv.get')?.builtin).toBe(true);
  });
});

describe('stoppable and invoke', () => {
  it('a stoppable built-in gets the call signal first; a plain function only the script arguments', () => {
    const seen: unknown[][] = [];
    const builtin = stoppable((signal, ...args) => seen.push([signal, ...args]));
    const plain = (...args: unknown[]) => seen.push(args);
    const signal = new AbortController().signal;
    invoke(builtin, () => signal, [1, 2]);
    invoke(plain, () => signal, [1, 2]);
    // Called directly (not through invoke), a stoppable function gets no signal.
    builtin(3);
    expect(seen).toEqual([
      [signal, 1, 2],
      [1, 2],
      [undefined, 3],
    ]);
  });
});
