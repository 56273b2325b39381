/**
 * The Python side of the backend, run once at boot as the module `_scriptbox`. It holds no
 * JavaScript object: it talks to the host through the `/dev/scriptbox` device with bytes
 * only (see device.ts), and the JavaScript side calls its entry points with strings.
 * Values cross as JSON with tagged forms for what JSON lacks (wire.ts is the JS half).
 * The event loop and host.aio are in runtime-aio.ts, the handle table's entry points in
 * runtime-handles.ts and the lockdown in runtime-lockdown.ts, all run into this same
 * module. A request body awaits at its top level through _then.
 */
export const RUNTIME = String.raw`
import ast, base64, builtins, json, linecache, math, os, sys, time, traceback, types
import asyncio, asyncio.events

_DEV = os.open('/dev/scriptbox', os.O_RDWR)
_TAG = '\x00'
_MAX_SAFE = 2 ** 53 - 1
_USER_FILES = {'<input>'}
_MAX_DEPTH = 64


def _request(msg):
    os.write(_DEV, json.dumps(msg, separators=(',', ':'), allow_nan=False).encode())
    head = os.read(_DEV, 4)
    n = int.from_bytes(head, 'little')
    parts = []
    while n > 0:
        chunk = os.read(_DEV, n)
        if not chunk:
            raise RuntimeError('scriptbox: the host channel closed')
        parts.append(chunk)
        n -= len(chunk)
    raw = b''.join(parts)
    del _dead[:]
    reply = json.loads(raw, object_hook=_untag)
    if _dead:
        # A host result held a handle this engine no longer has: that call fails.
        reply = _host_dead(msg, raw, reply)
    return reply


# ---- values -------------------------------------------------------------------------

# Objects the host holds handles to (WireHandle), by id; runtime-handles.ts has the rest.
_handles = {}
# Handle tags met by the current json.loads whose object is gone (see _resolve).
_dead = []


def _untag(d):
    if len(d) == 1 and _TAG in d:
        kind, data = d[_TAG]
        if kind == 'h':
            return _resolve(data)
        if kind == 'b':
            return base64.b64decode(data)
        if kind == 'i':
            return int(data)
        if kind == 'f':
            return float(data)
        if kind == 'm':
            return {(tuple(k) if type(k) is list else k): v for k, v in data}
    return d


class NoValueForm(Exception):
    def __init__(self, path, value):
        super().__init__(path)
        self.path = path
        self.value = value


class BadValue(ValueError):
    def __init__(self, path, message):
        super().__init__(message)
        self.path = path


def _tag(kind, data):
    return {_TAG: [kind, data]}


def _enc(v, path, depth, seen, handles=False):
    # With handles, a value with no value form becomes a handle instead of failing.
    t = type(v)
    if v is None or t is bool or t is str:
        return v
    if t is int:
        return v if -_MAX_SAFE <= v <= _MAX_SAFE else _tag('i', str(v))
    if t is float:
        return v if math.isfinite(v) else _tag('f', repr(v))
    if depth >= _MAX_DEPTH:
        raise BadValue(path, f'{path} is nested deeper than limits.maxValueDepth ({_MAX_DEPTH})')
    if t is bytes or t is bytearray or t is memoryview:
        return _tag('b', base64.b64encode(bytes(v)).decode('ascii'))
    i = id(v)
    if t is list or t is tuple or t is dict:
        if i in seen:
            raise BadValue(path, f'{path} refers to itself (a cycle); values must be trees')
        seen.add(i)
        try:
            if t is dict:
                if all(type(k) is str for k in v) and _TAG not in v:
                    return {k: _enc(x, f'{path}.{k}', depth + 1, seen, handles) for k, x in v.items()}
                return _tag('m', [[_enc(k, f'{path} key', depth + 1, seen, handles), _enc(x, f'{path}[{k!r}]', depth + 1, seen, handles)] for k, x in v.items()])
            return [_enc(x, f'{path}[{j}]', depth + 1, seen, handles) for j, x in enumerate(v)]
        finally:
            seen.discard(i)
    if handles:
        return _new_handle(v)
    raise NoValueForm(path, v)


def _dump(v, path):
    return json.dumps(_enc(v, path, 0, set()), separators=(',', ':'), allow_nan=False)


# ---- errors -------------------------------------------------------------------------

def _user_frames(tb):
    # The script's own frames only: not this runtime's, not the standard library's.
    return [f for f in traceback.extract_tb(tb) if f.filename in _USER_FILES]


def _error(e, stage='script'):
    t = type(e)
    info = {'kind': stage, 'type': t.__name__, 'message': str(e)}
    frames = _user_frames(e.__traceback__)
    if isinstance(e, SyntaxError):
        if e.lineno is not None:
            info['line'] = e.lineno
        info['message'] = e.msg
        lines = traceback.format_exception_only(t, e)
    else:
        if frames:
            info['line'] = frames[-1].lineno
        lines = traceback.format_exception_only(t, e)
    tb = ''.join(traceback.format_list(frames)) if frames else ''
    info['traceback'] = ('Traceback (most recent call last):\n' + tb if tb else '') + ''.join(lines)
    return info


def _fail(info):
    return json.dumps({'ok': False, 'failure': info})


# ---- blocking helpers ---------------------------------------------------------------

_real_sleep = time.sleep


def sleep(seconds):
    """time.sleep that the host can interrupt."""
    seconds = float(seconds)
    if seconds < 0:
        raise ValueError('sleep length must be non-negative')
    end = time.monotonic() + seconds
    while True:
        left = end - time.monotonic()
        if left <= 0:
            return
        if _request(['sleep', min(left, 1.0)]) == 'interrupted':
            raise KeyboardInterrupt


time.sleep = sleep


def _no_input(prompt=''):
    raise EOFError('input() has no terminal in a sandbox; pass data through call() arguments or host functions')


builtins.input = _no_input


# ---- the host module ----------------------------------------------------------------

class HostError(Exception):
    """A host function failed; .type names the host-side error."""

    def __init__(self, type_, message):
        super().__init__(f'{type_}: {message}')
        self.type = type_


_BUILTIN_ERRORS = {'PermissionError': PermissionError, 'TimeoutError': TimeoutError}


def _host_call(name, args):
    wire = _wire_args(name, args)
    reply = _request(['call', name, wire])
    if reply[0]:
        return reply[1]
    raise _host_exception(reply[1])


def _host_exception(err):
    cls = _BUILTIN_ERRORS.get(err['type'])
    if cls is not None:
        return cls(err['message'])
    if err['type'] == 'Interrupted':
        return KeyboardInterrupt()
    return HostError(err['type'], err['message'])


def _wire_args(name, args):
    try:
        return [_enc(a, f'host.{name} argument {i + 1}', 0, set()) for i, a in enumerate(args)]
    except NoValueForm as e:
        raise TypeError(f'{e.path} is a {type(e.value).__name__}, which cannot be sent to the host; send plain data') from None


class _Namespace:
    __slots__ = ('_prefix', '_names', '_aio')

    def __init__(self, prefix, names, aio=False):
        object.__setattr__(self, '_prefix', prefix)
        object.__setattr__(self, '_names', names)
        object.__setattr__(self, '_aio', aio)

    def __getattr__(self, attr):
        full = self._prefix + attr
        if full in self._names:
            return _stub(full, self._aio)
        if any(n.startswith(full + '.') for n in self._names):
            return _Namespace(full + '.', self._names, self._aio)
        raise AttributeError(f"host has no function '{full}'; the host registers host functions (hostFunctions / registerHostFunction)")

    def __setattr__(self, attr, value):
        raise AttributeError('the host module is read-only')

    def __dir__(self):
        return sorted({n[len(self._prefix):].split('.')[0] for n in self._names if n.startswith(self._prefix)})

    def __repr__(self):
        return f"<host namespace '{self._prefix[:-1]}'>"


def _stub(name, aio=False):
    target = _host_acall if aio else _host_call

    def call(*args):
        return target(name, args)
    call.__name__ = name.rsplit('.', 1)[-1]
    call.__qualname__ = ('host.aio.' if aio else 'host.') + name
    return call


class _HostModule(types.ModuleType):
    def __getattr__(self, attr):
        if attr.startswith('__'):
            raise AttributeError(attr)
        if attr == 'aio':
            # host.aio.name(...) is the awaitable form: asyncio.gather runs such calls at once.
            return _Namespace('', _host_names, True)
        return _Namespace('', _host_names).__getattr__(attr)

    def __setattr__(self, attr, value):
        raise AttributeError('the host module is read-only')

    def __dir__(self):
        return _Namespace('', _host_names).__dir__() + ['HostError']


_host_names = frozenset()
host = _HostModule('host', 'Functions the host granted to this script. host.name(...) blocks until the host answers.')
types.ModuleType.__setattr__(host, 'HostError', HostError)


def set_host_names(names_json):
    global _host_names
    _host_names = frozenset(json.loads(names_json))


# ---- user code ----------------------------------------------------------------------

G = {}


def reset():
    global G
    G = {'__name__': '__main__', '__builtins__': builtins}
    _handles.clear()
    sys.modules['host'] = host
    sys.modules['__main__'] = types.ModuleType('__main__')


reset()
_FLAGS = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT


def _remember(code, name):
    _USER_FILES.add(name)
    linecache.cache[name] = (len(code), None, code.splitlines(True), name)


def _begin(depth):
    global _MAX_DEPTH
    _MAX_DEPTH = depth
    del _made[:]
    sys.modules['host'] = host


def _guard(fn):
    try:
        return fn()
    except BaseException as e:
        if type(e) is BadHandle:
            return _fail(e.info)
        if type(e) is NoValueForm:
            return _fail({'kind': 'invalid', 'type': 'InvalidInputError', 'path': e.path,
                          'message': f'{e.path} is a Python {type(e.value).__name__}, which has no value form; return data instead'})
        if type(e) is BadValue and e.path.startswith('result'):
            return _fail({'kind': 'invalid', 'type': 'InvalidInputError', 'path': e.path, 'message': str(e)})
        return _fail(_error(e))


def exec_(code, depth):
    _begin(depth)

    def go():
        _remember(code, '<input>')
        tree = ast.parse(code, '<input>', 'exec')
        last = None
        if tree.body and isinstance(tree.body[-1], ast.Expr):
            last = tree.body.pop()
        body = eval(compile(tree, '<input>', 'exec', flags=_FLAGS), G)
        if last is None:
            return _then(body, _no_value)

        def then(_):
            value = eval(compile(ast.Expression(last.value), '<input>', 'eval', flags=_FLAGS), G)
            return _then(value, _exec_reply)
        return _then(body, then)
    return _guard(go)


def _no_value(_):
    return '{"ok":true,"value":null}'


def _exec_reply(value):
    try:
        wire = _dump(value, 'result')
    except NoValueForm:
        wire = json.dumps(repr(value))
    return '{"ok":true,"value":' + wire + '}'


def load(code, name, depth):
    _begin(depth)

    def go():
        _remember(code, name)
        return _then(eval(compile(code, name, 'exec', flags=_FLAGS), G), _no_value)
    return _guard(go)


_MISSING = object()


def _lookup(fn):
    parts = fn.split('.')
    obj = G.get(parts[0], _MISSING)
    for p in parts[1:]:
        if obj is _MISSING:
            break
        obj = obj.get(p, _MISSING) if type(obj) is dict else getattr(obj, p, _MISSING)
    return obj


def call(fn, args_json, optional, depth):
    _begin(depth)

    def go():
        f = _lookup(fn)
        if f is _MISSING or not callable(f):
            if optional:
                return '{"ok":true,"value":null,"defined":false}'
            what = 'is not defined' if f is _MISSING else f'has type {type(f).__name__}, not a function'
            return _fail({'kind': 'invalid', 'type': 'NameError',
                          'message': f"Python function '{fn}' {what}; define it with load() first (dotted names look up attributes)"})
        return _then(f(*_args(args_json)), _result)
    return _guard(go)


def install_wheel(path):
    import zipfile, importlib
    site = next(p for p in sys.path if p.endswith('site-packages'))
    try:
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
            if not any(n.endswith('.dist-info/WHEEL') for n in names):
                return _fail({'kind': 'invalid', 'type': 'InvalidInputError', 'message': 'the file is a zip archive but not a wheel (no *.dist-info/WHEEL inside)'})
            meta = next((n for n in names if n.endswith('.dist-info/METADATA')), None)
            needs = []
            if meta:
                for line in z.read(meta).decode('utf-8', 'replace').splitlines():
                    if line.startswith('Requires-Dist:') and 'extra ==' not in line:
                        needs.append(line.split(':', 1)[1].strip())
            if any(n.endswith(('.so', '.pyd')) for n in names):
                return _fail({'kind': 'invalid', 'type': 'InvalidInputError', 'message': 'the wheel holds compiled extension modules; only pure-Python wheels can be installed'})
            missing = []
            for req in needs:
                dist = req.replace('(', ' ').replace(';', ' ').split()[0]
                for op in '<>=!~[':
                    dist = dist.split(op)[0]
                try:
                    importlib.metadata.distribution(dist)
                except Exception:
                    missing.append(dist)
            if missing:
                return _fail({'kind': 'invalid', 'type': 'UnavailableError',
                              'message': f'the wheel needs {", ".join(missing)}, which would have to be downloaded; there is no package index here: install those wheels first'})
            z.extractall(site)
    except zipfile.BadZipFile:
        return _fail({'kind': 'invalid', 'type': 'InvalidInputError', 'message': 'the file is not a wheel (not a zip archive)'})
    finally:
        os.unlink(path)
    importlib.invalidate_caches()
    return json.dumps({'ok': True, 'value': None})
`;
