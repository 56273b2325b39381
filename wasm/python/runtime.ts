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
import ast, binascii, builtins, _json, linecache, math, os, reprlib, sys, time, traceback, types
import asyncio, asyncio.events

_DEV = os.open('/dev/scriptbox', os.O_RDWR)
_TAG = '\x00'
_MAX_SAFE = 2 ** 53 - 1
_USER_FILES = {'<input>'}
_MAX_DEPTH = 64
# limits.maxValueBytes (set_value_bytes): what one result, error text or host-call
# argument list may add up to, counted while it is encoded.
_MAX_BYTES = 8 * 1024 * 1024
# Error texts and tracebacks are for people: at most this much of one reaches the host.
_ERROR_TEXT_MAX = 64 * 1024

# What the request path calls, taken at boot: C functions and the interpreter's own module
# table. A script can rebind os.write or json.dumps (module attributes); these objects stay.
_os_write, _os_read = os.write, os.read
_b64encode, _b64decode = binascii.b2a_base64, binascii.a2b_base64
_modules = sys.modules
_join = ''.join
_msetattr = types.ModuleType.__setattr__
_ModuleType = types.ModuleType
_MethodType = types.MethodType
_osetattr = object.__setattr__
_parse, _extract_tb, _format_list, _format_only = ast.parse, traceback.extract_tb, traceback.format_list, traceback.format_exception_only
_Repr = reprlib.Repr


def _restore(_update=None, _pristine=None, _bupdate=None, _bpristine=None):
    # Every entry from the host starts here (bound as a default, so a script cannot
    # redirect it): the runtime's names and the builtins go back to what they were at
    # boot (lockdown_seal binds the copies), so a helper a script replaced through a frame
    # or a garbage-collector walk is gone before the runtime uses it again.
    if _update is not None:
        _update(_pristine)
        _bupdate(_bpristine)


# Names whose values change after boot: the runtime's state, never put back by _restore.
_STATE = frozenset({'G', '_MAX_DEPTH', '_next_handle', '_loop', '_parked', '_pumping', '_pump_since', '_host_names',
                    'host', 'HostError', '_host_classes', '_MAX_BYTES', '_ENGINE', '_snapshot_holders', '_sealed',
                    '_sb_host'})


def _seal(with_builtins):
    """Binds the copies _restore puts back: this module's names (but _STATE), and the builtins."""
    d = globals()
    pristine = tuple((k, v) for k, v in d.items() if k not in _STATE)
    if with_builtins:
        b = vars(builtins)
        _restore.__defaults__ = (d.update, pristine, b.update, tuple(b.items()))
    else:
        _restore.__defaults__ = (d.update, pristine, d.update, ())


def _reset_interpreter(_s=None):
    # The wasm lockdown (runtime-lockdown.ts) defines the real one; native CPython is trusted.
    pass


def set_value_bytes(n):
    global _MAX_BYTES
    _MAX_BYTES = int(n)


def _no_default(v):
    raise TypeError(f'{type(v).__name__} is not JSON')


def _no_constant(name):
    raise ValueError(f'{name} is not JSON the runtime reads')


_encoder = _json.make_encoder(None, _no_default, _json.encode_basestring_ascii, None, ':', ',', False, False, False)


def _dumps(v):
    return _join(_encoder(v, 0))


def _scanner(hook):
    return _json.make_scanner(types.SimpleNamespace(strict=True, object_hook=hook, object_pairs_hook=None,
                                                    parse_float=float, parse_int=int, parse_constant=_no_constant, memo={}))


def _loads(text, scan):
    if type(text) is not str:
        text = bytes(text).decode('utf-8')
    text = text.strip()
    try:
        v, end = scan(text, 0)
    except StopIteration:
        raise ValueError('scriptbox: the host sent text that is not JSON') from None
    if end != len(text):
        raise ValueError('scriptbox: the host sent text with more after its JSON value')
    return v


def _request(msg):
    _os_write(_DEV, _dumps(msg).encode())
    head = _os_read(_DEV, 4)
    n = int.from_bytes(head, 'little')
    parts = []
    while n > 0:
        chunk = _os_read(_DEV, n)
        if not chunk:
            raise RuntimeError('scriptbox: the host channel closed')
        parts.append(chunk)
        n -= len(chunk)
    raw = b''.join(parts)
    del _dead[:]
    reply = _loads(raw, _scan_untag)
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
            return _b64decode(data)
        if kind == 'i':
            return int(data)
        if kind == 'f':
            return float(data)
        if kind == 'm':
            return {(tuple(k) if type(k) is list else k): v for k, v in data}
    return d


_scan_untag = _scanner(_untag)
_scan_plain = _scanner(None)


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


def _over(path, budget):
    return BadValue(path, f'{path} makes the value larger than limits.maxValueBytes ({budget[1]} bytes; a string counts '
                          'every time it is referenced); send or return less data (or a handle to it), or raise limits.maxValueBytes')


def _budget():
    # [bytes left, limit]: one budget spans one answer (a result, or all of a host call's arguments).
    return [_MAX_BYTES, _MAX_BYTES]


def _enc(v, path, depth, seen, handles=False, budget=None):
    # With handles, a value with no value form becomes a handle instead of failing. The
    # budget counts close to what the value costs on the wire while it is built, so a list
    # of many references to one big string fails at the limit, not after building them all.
    if budget is None:
        budget = _budget()
    t = type(v)
    if t is str:
        if v.isascii():
            n = len(v)
        else:
            try:
                n = len(v.encode('utf-8'))
            except UnicodeEncodeError:
                # A lone surrogate has no UTF-8 form: the channel (MessagePack) would deliver
                # it as U+FFFD, so two kv keys would become one. Refused, as the host does.
                raise BadValue(path, 'contains a lone surrogate (half of a UTF-16 pair), which cannot cross to the host; use well-formed text') from None
        budget[0] -= n + 2
        if budget[0] < 0:
            raise _over(path, budget)
        return v
    budget[0] -= 9
    if budget[0] < 0:
        raise _over(path, budget)
    if v is None or t is bool:
        return v
    if t is int:
        return v if -_MAX_SAFE <= v <= _MAX_SAFE else _tag('i', _big(v, path, budget))
    if t is float:
        return v if math.isfinite(v) else _tag('f', repr(v))
    if depth >= _MAX_DEPTH:
        raise BadValue(path, f'{path} is nested deeper than limits.maxValueDepth ({_MAX_DEPTH})')
    if t is bytes or t is bytearray or t is memoryview:
        n = len(v) if t is not memoryview else v.nbytes
        budget[0] -= (n + 2) // 3 * 4
        if budget[0] < 0:
            raise _over(path, budget)
        return _tag('b', _b64encode(bytes(v), newline=False).decode('ascii'))
    i = id(v)
    if t is list or t is tuple or t is dict:
        if i in seen:
            raise BadValue(path, f'{path} refers to itself (a cycle); values must be trees')
        seen.add(i)
        try:
            if t is dict:
                if all(type(k) is str for k in v) and _TAG not in v:
                    return {k: _enc(x, f'{path}.{k}', depth + 1, seen, handles, _key(k, path, budget)) for k, x in v.items()}
                return _tag('m', [[_enc(k, f'{path} key', depth + 1, seen, handles, budget), _enc(x, f'{path}[{k!r}]', depth + 1, seen, handles, budget)] for k, x in v.items()])
            return [_enc(x, f'{path}[{j}]', depth + 1, seen, handles, budget) for j, x in enumerate(v)]
        finally:
            seen.discard(i)
    if handles:
        return _new_handle(v)
    raise NoValueForm(path, v)


def _key(k, path, budget):
    budget[0] -= len(k) + 3
    if budget[0] < 0:
        raise _over(f'{path}.{k[:40]}', budget)
    return budget


def _big(v, path, budget):
    # int -> str is quadratic in the digits; Python refuses more than 4300 unless told.
    text = str(v)
    budget[0] -= len(text)
    if budget[0] < 0:
        raise _over(path, budget)
    return text


def _dump(v, path):
    return _dumps(_enc(v, path, 0, set()))


# ---- errors -------------------------------------------------------------------------

def _user_frames(tb):
    # The script's own frames only: not this runtime's, not the standard library's.
    return [f for f in _extract_tb(tb) if f.filename in _USER_FILES]


def _cap(text, what):
    if len(text) <= _ERROR_TEXT_MAX:
        return text
    return text[:_ERROR_TEXT_MAX] + f' ... [{len(text) - _ERROR_TEXT_MAX} more characters of the {what} cut: the host reads at most {_ERROR_TEXT_MAX} of an error text]'


def _text(e):
    # str() of an exception runs the script's __str__; a failure there is not the script's error.
    try:
        text = str(e)
    except BaseException:
        return f'<{type(e).__name__} object: its __str__ failed>'
    return text if type(text) is str else f'<{type(e).__name__} object: its __str__ gave no str>'


def _error(e, stage='script'):
    t = type(e)
    info = {'kind': stage, 'type': t.__name__[:200], 'message': _cap(_text(e), 'message')}
    try:
        frames = _user_frames(e.__traceback__)
    except BaseException:
        frames = []
    if isinstance(e, SyntaxError):
        if type(e.lineno) is int:
            info['line'] = e.lineno
        info['message'] = _cap(e.msg if type(e.msg) is str else info['message'], 'message')
        try:
            last = _join(_format_only(t, e))
        except BaseException:
            last = f"{info['type']}: {info['message']}\n"
    else:
        if frames:
            info['line'] = frames[-1].lineno
        # The last line is made from the capped message: formatting the exception again
        # would copy a message of any size.
        last = f"{info['type']}: {info['message']}\n" if info['message'] else f"{info['type']}\n"
    tb = _join(_format_list(frames)) if frames else ''
    info['traceback'] = _cap(('Traceback (most recent call last):\n' + tb if tb else '') + last, 'traceback')
    return info


def _fail(info):
    return _dumps({'ok': False, 'failure': info})


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


def _no_input(prompt=''):
    raise EOFError('input() has no terminal in a sandbox; pass data through call() arguments or host functions')


# ---- the host module ----------------------------------------------------------------
#
# The script sees a new host module in every request (_fresh_host): whatever it did to the
# last one (setattr through types.ModuleType or object, its __dict__, sys.modules['host'],
# the globals of a stub) is gone. The classes behind it are made anew for every tenant
# (reset) and whenever a script changed one; the host-call path (_host_call, _request,
# _enc, ...) is restored with the runtime's other names before every request (_restore).

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
    e = HostError(f"{err['type']}: {err['message']}")
    e.type = err['type']
    return e


def _wire_args(name, args):
    budget = _budget()
    try:
        return [_enc(a, f'host.{name} argument {i + 1}', 0, set(), False, budget) for i, a in enumerate(args)]
    except NoValueForm as e:
        raise TypeError(f'{e.path} is a {type(e.value).__name__}, which cannot be sent to the host; send plain data') from None
    except BadValue as e:
        raise ValueError(str(e)) from None


def _host_call_star(name, *args):
    return _host_call(name, args)


async def _host_acall_star(name, *args):
    return await _host_acall(name, args)


def _stub(name, aio=False):
    # A bound method: no closure cell, no attribute a script can set on it.
    return _MethodType(_host_acall_star if aio else _host_call_star, name)


def _make_host_classes():
    """HostError and the classes of host and its namespaces, made anew (see _fresh_host)."""

    class HostError(Exception):
        """A host function failed; .type names the host-side error."""

    HostError.__module__ = 'host'

    class Namespace:
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
                return type(self)(full + '.', self._names, self._aio)
            raise AttributeError(f"host has no function '{full}'; the host registers host functions (hostFunctions / registerHostFunction)")

        def __setattr__(self, attr, value):
            raise AttributeError('the host module is read-only')

        def __delattr__(self, attr):
            raise AttributeError('the host module is read-only')

        def __dir__(self):
            return sorted({n[len(self._prefix):].split('.')[0] for n in self._names if n.startswith(self._prefix)})

        def __repr__(self):
            return f"<host namespace '{self._prefix[:-1]}'>"

    class HostModule(_ModuleType):
        _namespace = Namespace

        def __getattr__(self, attr):
            if attr.startswith('__'):
                raise AttributeError(attr)
            names = self.__dict__.get('_sb_names', frozenset())
            if attr == 'aio':
                # host.aio.name(...) is the awaitable form: asyncio.gather runs such calls at once.
                return type(self)._namespace('', names, True)
            return type(self)._namespace('', names).__getattr__(attr)

        def __setattr__(self, attr, value):
            raise AttributeError('the host module is read-only')

        def __delattr__(self, attr):
            raise AttributeError('the host module is read-only')

        def __dir__(self):
            return type(self)._namespace('', self.__dict__.get('_sb_names', frozenset())).__dir__() + ['HostError']

    return HostError, Namespace, HostModule


def _class_state(cls):
    # What _intact compares, by identity: a value with its own __eq__ cannot pass for another.
    return (cls, type(cls), cls.__bases__, cls.__mro__, tuple(vars(cls).items()))


def _intact(state):
    cls, meta, bases, mro, items = state
    if type(cls) is not meta or cls.__bases__ is not bases or cls.__mro__ is not mro:
        return False
    now = vars(cls)
    if len(now) != len(items):
        return False
    for k, v in items:
        if now.get(k, _intact) is not v:
            return False
    return True


def _new_host_classes():
    global HostError, _host_classes
    HostError, ns, mod = _make_host_classes()
    _host_classes = (HostError, ns, mod, tuple(_class_state(c) for c in (HostError, ns, mod)))


_HOST_DOC = 'Functions the host granted to this script. host.name(...) blocks until the host answers.'


def _fresh_host():
    """
    The tenant's host module, as it was made: one object per tenant (a loaded script's
    \`import host\` keeps it), put back before every request: its class (made anew if a
    script changed one), and its attributes.
    """
    global host
    err, ns, mod, states = _host_classes
    for st in states:
        if not _intact(st):
            _new_host_classes()
            err, ns, mod, states = _host_classes
            break
    h = host
    if h is None:
        h = host = mod('host', _HOST_DOC)
    elif type(h) is not mod:
        _osetattr(h, '__class__', mod)
    d = vars(h)
    d.clear()
    d.update(__name__='host', __doc__=_HOST_DOC, __package__='', __loader__=None, __spec__=None,
             HostError=err, _sb_names=_host_names)
    _publish_host(h)


def _publish_host(h):
    # native-bridge/cpython/hub.ts replaces this: there sys.modules['host'] routes by thread.
    _modules['host'] = h


def _install_globals():
    # The runtime's own functions in the standard library, put back before every request
    # (native-bridge/cpython/hub.ts replaces this with its per-thread routing).
    time.sleep = sleep
    builtins.input = _no_input
    _install_aio()


_host_names = frozenset()
_host_classes = None
_new_host_classes()
host = None


def set_host_names(names_json, _r=_restore):
    global _host_names
    _r()
    _host_names = frozenset(_loads(names_json, _scan_plain))
    _fresh_host()


# ---- user code ----------------------------------------------------------------------

G = {}


def reset(_r=_restore):
    """A new tenant: new namespace, handles, host module and classes, event loop and patches."""
    global G, host
    _r()
    G = {'__name__': '__main__', '__builtins__': builtins}
    _handles.clear()
    _reset_interpreter()
    _new_host_classes()
    host = None
    _fresh_host()
    _modules['__main__'] = _ModuleType('__main__')
    if _installed:
        # Defined by the sources that run after this one (reset() runs once before them).
        del _made[:]
        _fresh_loop()
        _install_globals()


_installed = False
reset()
_FLAGS = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT


def _remember(code, name):
    _USER_FILES.add(name)
    linecache.cache[name] = (len(code), None, code.splitlines(True), name)


def _begin(depth, _r=_restore):
    # The first step of every request entry (bound as its default): the runtime's names
    # back, a new host module, the runtime's patches to the standard library back.
    global _MAX_DEPTH
    _r()
    _MAX_DEPTH = depth
    del _made[:]
    _fresh_host()
    _install_globals()


def refresh(_r=_restore):
    """What _begin does but the depth: for a caller that runs script code without an entry (native fast path)."""
    _r()
    _fresh_host()
    _install_globals()


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


def exec_(code, depth, _b=_begin):
    _b(depth)

    def go():
        _remember(code, '<input>')
        tree = _parse(code, '<input>', 'exec')
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
        wire = _dumps(_short_repr(value))
    return '{"ok":true,"value":' + wire + '}'


def _short_repr(value):
    # A value with no value form shows as its repr, shortened while it is made (reprlib):
    # a list of many references to one big string must not become one huge text.
    r = _Repr()
    r.maxlevel, r.maxstring, r.maxother = 8, _ERROR_TEXT_MAX, _ERROR_TEXT_MAX
    r.maxlist = r.maxtuple = r.maxdict = r.maxset = r.maxfrozenset = r.maxdeque = r.maxarray = 1000
    text = r.repr(value)
    return _cap(text, 'repr') if type(text) is str else '<no repr>'


def load(code, name, depth, _b=_begin):
    _b(depth)

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


def call(fn, args_json, optional, depth, _b=_begin):
    _b(depth)

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


def install_wheel(path, _r=_restore):
    import zipfile, importlib
    _r()
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
    return '{"ok":true,"value":null}'
`;
