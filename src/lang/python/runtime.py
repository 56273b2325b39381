"""
The Python half of every ScriptBox Python backend, run once per engine as the module
`_scriptbox`: by Pyodide (wasm/python) and by real CPython (native-bridge/cpython) alike.
It holds no JavaScript object: it talks to the host through two channels with bytes only.
On the device it writes a request and reads a length-prefixed reply; on the value channel
an entry reads its arguments and writes its result. Values cross in marshal's format
(version 2), which the interpreter reads and writes in C; tuples are the tags for what is
not plain data (handles, dicts with other keys). src/lang/python/marshal.ts is the
JavaScript half. The host calls the entry points with strings, numbers and booleans.

What differs between the backends is given to init() right after this module runs; the
lockdown entries at the end (lockdown_*, before_snapshot, after_snapshot, after_restore)
are called by the Pyodide backend only: native CPython is trusted or OS-isolated.

Sections: values, errors, blocking helpers, the host module, user code, the event loop
and host.aio, the handle table, the lockdown. A request body awaits at its top level
through _then.
"""
import ast, binascii, builtins, functools, gc, io, _json, linecache, marshal, os, reprlib, sys, time, traceback, types
import asyncio, asyncio.events

# The host channel, set by init(): a file descriptor _os_write / _os_read reach. _VAL is
# the value channel: an entry's arguments are read from it, its result written to it.
_DEV = None
_DEVICE = None
_VAL = None
_VALUES = None
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
# Values cross in marshal's version 2 (no back-references): src/lang/python/marshal.ts.
_mdumps, _mloads = marshal.dumps, marshal.loads
_MARSHAL = 2
_modules = sys.modules
_join = ''.join
_msetattr = types.ModuleType.__setattr__
_ModuleType = types.ModuleType
_MethodType = types.MethodType
_osetattr = object.__setattr__
_parse, _format_list, _format_only = ast.parse, traceback.format_list, traceback.format_exception_only
_gc_enabled, _gc_disable, _gc_enable = gc.isenabled, gc.disable, gc.enable
_Repr = reprlib.Repr


def restore(_update=None, _pristine=None, _bupdate=None, _bpristine=None, _copy=None, _copied=()):
    """
    Puts the runtime's names and its builtins back as they were at boot (_seal binds the
    copies as defaults, so a script cannot redirect this), so a helper a script replaced
    through a frame or a garbage-collector walk is gone before the runtime uses it again.
    Under Pyodide a script reaches neither without an audited step (everything of the
    runtime it can hold is _opaque; the builtins are the module's private copy): the audit
    hook (_guard_runtime) then reports the engine as tainted, and from then on the host
    calls this at the start of every entry, until the next tenant.
    """
    global _ready
    _ready = False
    if _update is not None:
        _update(_pristine)
        _bupdate(_bpristine)
        # _prepare's copy of the builtins module, made again from the tuple: a script that
        # reached this module may have changed the dict.
        if _copy is not None:
            _copy.clear()
            _copy.update(_copied)


# Native CPython (many engines in one interpreter, no audit hook) restores at every entry;
# lockdown_seal turns this off where the host restores once it is told the engine is tainted.
_EVERY_ENTRY = True


def _restore(_r=restore):
    # The first step of every entry (bound as a default, so a script cannot redirect it).
    # Any entry may run script code (a __del__): the next request prepares itself again.
    global _ready
    _ready = False
    if _EVERY_ENTRY:
        _r()


def _opaque(fn, _wrap=functools._lru_cache_wrapper, _info=functools._CacheInfo):
    """
    fn behind a C object that calls it and binds like a method (maxsize 0: nothing is
    cached) but has no attribute leading back to it: no __globals__, __wrapped__, __code__,
    and a __reduce__ that names no function. Every runtime function a script can hold (the
    host stubs, time.sleep, input, the event loop's parts) is one of these, so the script
    reaches this module's globals only through an audited step.
    """
    return _wrap(fn, 0, False, _info)


def _opaque_methods(cls):
    """Makes every method of a class the script can reach _opaque."""
    for k, v in list(vars(cls).items()):
        if type(v) is types.FunctionType:
            setattr(cls, k, _opaque(v))
        elif type(v) is staticmethod:
            setattr(cls, k, staticmethod(_opaque(v.__func__)))
    return cls


# Names whose values change after boot: the runtime's state, never put back by _restore.
_STATE = frozenset({'_ready', 'G', '_MAX_DEPTH', '_next_handle', '_loop', '_parked', '_pumping', '_pump_since', '_host_names',
                    'host', 'HostError', '_HostModule', '_host_classes', '_host_items', '_MAX_BYTES', '_ENGINE', '_snapshot_holders', '_sealed',
                    '_sb_host', '_trampoline'})


def _seal(with_builtins):
    """Binds the copies restore() puts back: this module's names (but _STATE), and its builtins."""
    d = globals()
    pristine = tuple((k, v) for k, v in d.items() if k not in _STATE)
    if with_builtins:
        # The module's own copy where the bootstrap gave it one (Pyodide), else the shared module.
        b = d['__builtins__'] if type(d.get('__builtins__')) is dict else vars(builtins)
        shared = tuple(vars(builtins).items())
        copy = dict(shared)
        # A dict updates faster than a tuple of pairs; restore() makes it again once tainted.
        _prepare.__defaults__ = (vars(builtins).update, copy)
        restore.__defaults__ = (d.update, pristine, b.update, tuple(b.items()), copy, shared)
    else:
        restore.__defaults__ = (d.update, pristine, d.update, (), None, ())


def init(device, stops_json, io=None, publish_host=None, install_globals=None, values=None):
    """
    What differs between the backends, given once right after this module runs (before a
    memory snapshot and before _seal, so the values below are the ones _restore puts back):
    device, the host channel: a path to open (Pyodide's /dev/scriptbox) or a descriptor
    that io serves; stops_json, the stops of the host's error table (src/errors.ts
    stopNames()): a host call stopped that way raises what the script expects; io, the
    (write, read) pair of the device when the os module cannot reach it; publish_host and
    install_globals, how the host module and the runtime's standard-library patches reach
    a script when one interpreter serves many engines (native CPython routes them by thread);
    values, the value channel (a path, or a descriptor io serves): entries read their
    arguments from it and write their results to it, in marshal's format.
    """
    global _DEV, _DEVICE, _VAL, _VALUES, _os_write, _os_read, _BUILTIN_ERRORS, _INTERRUPTED, _publish_host, _install_globals
    stops = _loads(stops_json, _scan_plain)
    _BUILTIN_ERRORS = {'PermissionError': PermissionError, stops['timeout']['type']: TimeoutError}
    _INTERRUPTED = stops['interrupted']['type']
    _DEVICE = device
    _DEV = os.open(device, os.O_RDWR) if type(device) is str else device
    _VALUES = values
    _VAL = os.open(values, os.O_RDWR) if type(values) is str else values
    if io is not None:
        _os_write, _os_read = io
    if publish_host is not None:
        _publish_host = publish_host
    if install_globals is not None:
        _install_globals = install_globals


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


_scan_plain = _scanner(None)


def _read(fd, n):
    parts = []
    while n > 0:
        chunk = _os_read(fd, n)
        if not chunk:
            raise RuntimeError('scriptbox: the host channel closed')
        parts.append(chunk)
        n -= len(chunk)
    return parts[0] if len(parts) == 1 else b''.join(parts)


def _request(msg):
    """
    One request to the host: msg in marshal's format, the reply read back (a length, a flag
    byte saying whether its values hold handles, the value). Handles are resolved by the
    caller, which knows where values sit in the reply.
    """
    _os_write(_DEV, _mdumps(msg, _MARSHAL))
    # One read takes a small reply whole (its length, then the rest); a big one reads on.
    head = _os_read(_DEV, 4096)
    n = int.from_bytes(head[:4], 'little')
    raw = memoryview(head)[4:] if len(head) - 4 >= n else memoryview(head[4:] + _read(_DEV, n - len(head) + 4))
    return raw[0] == 1, _mloads(raw[1:])


def _host_value(value, handles, path):
    # A value from the host, with its handle tags resolved when it has any.
    return _resolve_tree(value, path) if handles else value


# ---- values -------------------------------------------------------------------------

# Objects the host holds handles to (WireHandle), by id; the handle table section has the rest.
_handles = {}


class NoValueForm(Exception):
    def __init__(self, path, value):
        super().__init__(path)
        self.path = path
        self.value = value


class BadValue(ValueError):
    def __init__(self, path, message):
        super().__init__(message)
        self.path = path


def _tag(kind, *data):
    # Tuples carry no value (a script's tuples become lists), so they are the tags.
    return (kind, *data)


def _path(p):
    """
    A value's path as text. _enc passes a path as (parent, kind, key) and makes the text only
    for an error: building it for every item of every value cost more than encoding it.
    """
    if type(p) is str:
        return p
    parent, kind, key = p
    if kind == 'a':
        return f'host.{parent} argument {key}'
    base = _path(parent)
    if kind == '[':
        return f'{base}[{key}]'
    if kind == '.':
        return f'{base}.{key}'
    if kind == 'r':
        return f'{base}[{key!r}]'
    return f'{base} key'


def _over(path, budget):
    path = _path(path)
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
                raise BadValue(_path(path), 'contains a lone surrogate (half of a UTF-16 pair), which cannot cross to the host; use well-formed text') from None
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
        if not -0x7fffffff <= v <= 0x7fffffff:
            _big(v, path, budget)
        return v
    if t is float:
        return v
    if depth >= _MAX_DEPTH:
        path = _path(path)
        raise BadValue(path, f'{path} is nested deeper than limits.maxValueDepth ({_MAX_DEPTH})')
    if t is bytes or t is bytearray or t is memoryview:
        n = len(v) if t is not memoryview else v.nbytes
        budget[0] -= n
        if budget[0] < 0:
            raise _over(path, budget)
        return v if t is bytes else bytes(v)
    i = id(v)
    if t is list or t is tuple or t is dict:
        if i in seen:
            path = _path(path)
            raise BadValue(path, f'{path} refers to itself (a cycle); values must be trees')
        seen.add(i)
        try:
            if t is dict:
                if all(type(k) is str for k in v):
                    return {k: _enc(x, (path, '.', k), depth + 1, seen, handles, _key(k, path, budget)) for k, x in v.items()}
                return _tag('m', [[_enc(k, (path, 'k', None), depth + 1, seen, handles, budget), _enc(x, (path, 'r', k), depth + 1, seen, handles, budget)] for k, x in v.items()])
            return [_enc(x, (path, '[', j), depth + 1, seen, handles, budget) for j, x in enumerate(v)]
        finally:
            seen.discard(i)
    if handles:
        return _new_handle(v)
    raise NoValueForm(_path(path), v)


def _key(k, path, budget):
    budget[0] -= len(k) + 3
    if budget[0] < 0:
        raise _over((path, '.', k[:40]), budget)
    return budget


def _big(v, path, budget):
    # Marshal writes a big int as base-2**15 digits, two bytes each.
    budget[0] -= (v.bit_length() + 14) // 15 * 2
    if budget[0] < 0:
        raise _over(path, budget)


def _dump(v, path):
    return _mdumps(_enc(v, path, 0, set()), _MARSHAL)


# An entry's answer when its value went to the value channel (see _answer).
_VALUE_REPLY = '{"ok":true,"bin":true}'


def _answer(data):
    """The value an entry answers with, already in marshal's format: written to the value channel."""
    _os_write(_VAL, data)
    return _VALUE_REPLY


# ---- errors -------------------------------------------------------------------------

# Set while _user_frames reads a traceback: the audit hook then does not report the frame
# reads as a way into the runtime (the runtime's own error texts must not taint the engine).
_quiet = [False]


def _user_frames(tb, _q=_quiet):
    """
    The script's own frames, as (file, line, function, source line): not this runtime's,
    not the standard library's. While the frames are read no script code can run (only C
    attributes are read and the collector is off, so no finalizer runs), so nothing can use
    the quiet window; the source lines come after it, from the entries _remember made.
    """
    found = []
    was = _gc_enabled()
    _gc_disable()
    _q[0] = True
    try:
        while tb is not None:
            code = tb.tb_frame.f_code
            name = code.co_filename
            # Exact str only: a str subclass's __hash__ would be script code in the window.
            if type(name) is str and name in _USER_FILES:
                found.append((name, tb.tb_lineno, code.co_name))
            tb = tb.tb_next
    finally:
        _q[0] = False
        if was:
            _gc_enable()
    return [(name, line, fn, _source_line(name, line)) for name, line, fn in found]


def _source_line(name, line):
    entry = linecache.cache.get(name)
    lines = entry[2] if type(entry) is tuple and len(entry) > 2 else ()
    return lines[line - 1] if type(line) is int and 0 < line <= len(lines) else ''


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
            info['line'] = frames[-1][1]
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
        if _request(['sleep', min(left, 1.0)])[1] == 'interrupted':
            raise KeyboardInterrupt


# ---- input and rich outputs (issue 21) ------------------------------------------------
#
# A terminal read is a request the host answers with the engine's onInput option (a host
# call under a name no host function has, src/capabilities/input.ts): it blocks like a host
# call and a stop ends it. A display is a request the core keeps with the request's output
# (src/lang/output.ts), so it is counted against the same cap and kept in call order.

def _read_line(prompt):
    # One line from the host (its newline optional), or None at end of input.
    _, reply = _request(['input', prompt])
    if reply[0]:
        v = reply[1]
        return v if type(v) is str else None
    err = reply[1]
    if err['type'] == 'EOFError':
        raise EOFError(err['message'])
    raise _host_exception(err)


def _flush_std():
    # What was printed goes out before the host is asked (a prompt with no newline too).
    for s in (sys.stdout, sys.stderr):
        try:
            s.flush()
        except Exception:
            pass  # a script's own stream that cannot flush: its text is still captured


def _input(prompt=''):
    """input(): the prompt printed to stdout (and passed to onInput), then one line from the host."""
    prompt = str(prompt)
    if prompt:
        sys.stdout.write(prompt)
    _flush_std()
    text = _read_line(prompt)
    if text is None:
        raise EOFError('EOF when reading a line')
    return text[:-1] if text.endswith('\n') else text


class _Stdin(io.TextIOBase):
    """sys.stdin: lines from the host (onInput), read on demand. End of input is asked again on every read, like a terminal."""

    def __init__(self):
        self._buf = ''

    def readable(self):
        return True

    def isatty(self):
        return False

    # A plain attribute, not a property: a property's fget would be a function of this
    # module that _opaque_methods does not wrap (its __globals__ is the runtime's).
    encoding = 'utf-8'

    def _fill(self):
        _flush_std()
        try:
            line = _read_line('')
        except EOFError:
            return False
        if line is None:
            return False
        self._buf += line if line.endswith('\n') else line + '\n'
        return True

    def _take(self, n):
        out, self._buf = self._buf[:n], self._buf[n:]
        return out

    def readline(self, size=-1):
        size = -1 if size is None else size.__index__()
        while '\n' not in self._buf and (size < 0 or len(self._buf) < size) and self._fill():
            pass
        i = self._buf.find('\n')
        n = len(self._buf) if i < 0 else i + 1
        return self._take(n if size < 0 else min(n, size))

    def read(self, size=-1):
        size = -1 if size is None else size.__index__()
        while (size < 0 or len(self._buf) < size) and self._fill():
            pass
        return self._take(len(self._buf) if size < 0 else size)

    def readlines(self, hint=-1):
        lines = []
        while True:
            line = self.readline()
            if not line:
                return lines
            lines.append(line)

    def __next__(self):
        line = self.readline()
        if not line:
            raise StopIteration
        return line

    def __iter__(self):
        return self


_opaque_methods(_Stdin)
_stdin = _Stdin()

# The Jupyter reprs display() looks for, richest first; image data may come as base64 text.
_REPRS = (('_repr_png_', 'image/png'), ('_repr_jpeg_', 'image/jpeg'), ('_repr_svg_', 'image/svg+xml'),
          ('_repr_html_', 'text/html'), ('_repr_markdown_', 'text/markdown'))
_RICH_NAMES = frozenset(n for n, _ in _REPRS)


def _send_output(mime, data):
    if type(mime) is not str:
        raise TypeError(f'display: the mime type must be a str, not {type(mime).__name__}')
    if type(data) is not str and type(data) is not bytes:
        if isinstance(data, (bytes, bytearray, memoryview)):
            data = bytes(data)
        elif isinstance(data, str):
            data = str(data)
        else:
            raise TypeError(f'display: the data must be str or bytes, not {type(data).__name__}')
    _flush_std()
    ok, err = _request(['display', mime, data])[1]
    if not ok:
        raise ValueError(err)


def _rich(obj):
    """obj's richest Jupyter repr as (mime, data), or None. A class is not its instances: its reprs are unbound."""
    if isinstance(obj, type):
        return None
    for name, mime in _REPRS:
        f = getattr(obj, name, None)
        if f is None or not callable(f):
            continue
        data = f()
        if type(data) is tuple and len(data) == 2:
            data = data[0]  # (data, metadata), as IPython allows
        if data is None:
            continue
        if mime != 'image/svg+xml' and mime.startswith('image/') and isinstance(data, str):
            data = binascii.a2b_base64(data)
        return mime, data
    return None


def display(*objs):
    """Shows each object as a rich output: its richest Jupyter repr (_repr_png_, _repr_svg_, _repr_html_, ...), else its repr as text/plain."""
    for obj in objs:
        r = _rich(obj)
        _send_output(*(r if r is not None else ('text/plain', _short_repr(obj))))


def _host_display(data, mime=None):
    """host.display(data, mime): data (str, or bytes for binary types) as an output of that media type; without mime, display(data)."""
    if mime is None:
        return display(data)
    if mime != 'image/svg+xml' and mime.startswith('image/') and isinstance(data, str):
        data = binascii.a2b_base64(data)
    _send_output(mime, data)


def _display_last(value):
    # The REPL's last value, when it has a rich repr, is shown too (its value stays as it is).
    if value is not None and not isinstance(value, type) and any(hasattr(value, n) for n in _RICH_NAMES):
        r = _rich(value)
        if r is not None:
            _send_output(*r)


_opaque_sleep = _opaque(sleep)
_opaque_input = _opaque(_input)
_opaque_display = _opaque(display)
_opaque_host_display = _opaque(_host_display)


# ---- the host module ----------------------------------------------------------------
#
# The script sees a new host module in every request (_fresh_host): whatever it did to the
# last one (setattr through types.ModuleType or object, its __dict__, sys.modules['host'],
# the globals of a stub) is gone. The classes behind it are made anew for every tenant
# (reset) and whenever a script changed one; the host-call path (_host_call, _request,
# _enc, ...) is restored with the runtime's other names before every request (_restore).

# Host-call failure types that raise a built-in exception, and the one that is the host's
# interrupt (a KeyboardInterrupt): init() names the stops after the host's error table.
_BUILTIN_ERRORS = {'PermissionError': PermissionError}
_INTERRUPTED = None


def _host_call(name, args):
    wire = _wire_args(name, args)
    handles, reply = _request(['call', name, wire])
    if not reply[0]:
        raise _host_exception(reply[1])
    try:
        return _host_value(reply[1], handles, f'host.{name} result')
    except BadHandle as e:
        # A host result held a handle this engine no longer has: that call fails.
        raise _host_exception(e.info) from None


def _host_exception(err):
    cls = _BUILTIN_ERRORS.get(err['type'])
    if cls is not None:
        return cls(err['message'])
    if err['type'] == _INTERRUPTED:
        return KeyboardInterrupt()
    e = HostError(f"{err['type']}: {err['message']}")
    e.type = err['type']
    return e


def _wire_args(name, args):
    budget = _budget()
    try:
        return [_enc(a, (name, 'a', i + 1), 0, set(), False, budget) for i, a in enumerate(args)]
    except NoValueForm as e:
        raise TypeError(f'{e.path} is a {type(e.value).__name__}, which cannot be sent to the host; send plain data') from None
    except BadValue as e:
        raise ValueError(str(e)) from None


def _host_call_star(name, *args):
    return _host_call(name, args)


async def _host_acall_star(name, *args):
    return await _host_acall(name, args)


_opaque_call_star = _opaque(_host_call_star)
_opaque_acall_star = _opaque(_host_acall_star)


def _stub(name, aio=False):
    # A bound method of an opaque callable: no closure cell, no way back to this module.
    return _MethodType(_opaque_acall_star if aio else _opaque_call_star, name)


def _namespace_attr(where, attr):
    """
    A host module's __getattr__ (PEP 562): a namespace (host.kv, host.aio), made on first
    use in a request and kept in its parent's dict for the rest of it (_fresh_host empties
    the top level again), or the error for a name the host did not grant.
    """
    parent, prefix, aio = where
    if attr.startswith('__'):
        raise AttributeError(attr)
    full = prefix + attr
    if attr == 'aio' and not prefix and not aio:
        # host.aio.name(...) is the awaitable form: asyncio.gather runs such calls at once.
        m = _host_module('host.aio', '', True)
    elif any(n.startswith(full + '.') for n in _host_names):
        m = _host_module(f'{parent.__name__}.{attr}', full + '.', aio)
    else:
        raise AttributeError(f"host has no function '{full}'; the host registers host functions (hostFunctions / registerHostFunction)")
    vars(parent)[attr] = m
    return m


_opaque_namespace_attr = _opaque(_namespace_attr)


def _host_module(modname, prefix, aio, doc=None, m=None):
    """A read-only module with the granted functions under prefix (namespaces come on first use)."""
    if m is None:
        m = _HostModule(modname, doc)
    d = vars(m)
    d['__getattr__'] = _MethodType(_opaque_namespace_attr, (m, prefix, aio))
    for n in _host_names:
        if n.startswith(prefix) and '.' not in n[len(prefix):]:
            d[n[len(prefix):]] = _stub(n, aio)
    return m


def _read_only(self, *args):
    raise AttributeError('the host module is read-only')


def _make_host_classes():
    """HostError, and the class of host and its namespaces: no attribute lookup of its own, only writes refused."""
    class HostError(Exception):
        """A host function failed; .type names the host-side error."""

    HostError.__module__ = 'host'

    class HostModule(_ModuleType):
        __setattr__ = __delattr__ = _opaque(_read_only)

    HostModule.__module__ = 'host'
    return HostError, HostModule


def _class_state(cls):
    # What _intact compares. What could change how host's attributes are found or what a
    # HostError is: a new class attribute (a __getattribute__, a property), other bases, another
    # metaclass. Values of the attributes it was made with change nothing a request relies on.
    return (cls, type(cls), cls.__mro__, len(vars(cls)))


def _intact(state):
    cls, meta, mro, n = state
    return type(cls) is meta and cls.__mro__ is mro and len(vars(cls)) == n


def _new_host_classes():
    global HostError, _HostModule, _host_classes
    HostError, _HostModule = _make_host_classes()
    _host_classes = (_class_state(HostError), _class_state(_HostModule))


def _new_host():
    """The tenant's host module made again (new host names, or a host class a script changed)."""
    global host, _host_items
    err, mod = _host_classes
    if not (_intact(err) and _intact(mod)):
        _new_host_classes()
    # The tenant keeps its object (a loaded script's `import host` holds it); reset makes a new one.
    if host is None:
        host = _HostModule('host', _HOST_DOC)
    elif type(host) is not _HostModule:
        _osetattr(host, '__class__', _HostModule)
    d = vars(host)
    d.clear()
    d.update(__name__='host', __doc__=_HOST_DOC, __package__='', __loader__=None, __spec__=None, HostError=HostError,
             display=_opaque_host_display)
    _host_module('host', '', False, m=host)
    _host_items = tuple(d.items())


_HOST_DOC = 'Functions the host granted to this script. host.name(...) blocks until the host answers.'


def _fresh_host():
    """
    The tenant's host module as it was made, put back before every request: one object per
    tenant (a loaded script's `import host` keeps it), a plain module again with exactly the
    attributes it was made with. Its namespaces are made anew in each request that uses them.
    """
    err, mod = _host_classes
    if not (_intact(err) and _intact(mod)):
        _new_host()
    h = host
    if type(h) is not _HostModule:
        _osetattr(h, '__class__', _HostModule)
    d = vars(h)
    d.clear()
    d.update(_host_items)
    _publish_host(h)


def _publish_host(h):
    # Native CPython replaces this (init's publish_host): there sys.modules['host'] routes by thread.
    _modules['host'] = h


def _install_globals():
    # The runtime's own functions in the standard library, put back before every request
    # (native CPython replaces this through init's install_globals, with its per-thread routing).
    # __import__ too: a script's `import host` must find the host module put back above.
    time.sleep = _opaque_sleep
    builtins.input = _opaque_input
    builtins.display = _opaque_display
    sys.stdin = _stdin
    builtins.__import__ = _import
    _install_aio()


_import = builtins.__import__
_host_names = frozenset()
_new_host_classes()
host = None
_host_items = ()


def set_host_names(names_json, _r=_restore):
    global _host_names
    _r()
    _host_names = frozenset(_loads(names_json, _scan_plain))
    _new_host()
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
    _new_host()
    _fresh_host()
    _modules['__main__'] = _ModuleType('__main__')
    del _made[:]
    _fresh_loop()
    _install_globals()
    # Last, as the host forgets the last tenant's taint (the new tenant holds nothing of the
    # old): the steps above make audited calls of their own (sys.settrace(None) is one).
    _taint_sent[0] = False
    _quiet[0] = False


_FLAGS = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT


def _remember(code, name):
    _USER_FILES.add(name)
    linecache.cache[name] = (len(code), None, code.splitlines(True), name)


_ready = False


def _prepare(_bupdate=None, _builtins=None):
    # A request's start: the builtins module as it was at boot (Pyodide; native CPython
    # shares one interpreter between engines and keeps its own), the tenant's host module,
    # the runtime's patches to the standard library.
    if _bupdate is not None:
        _bupdate(_builtins)
    _fresh_host()
    _install_globals()


def prepare(_r=_restore):
    """
    The next request's start, done ahead of it: the worker runs this after it posts an
    answer, while the host reads it (the core's idle()), and the next request entry finds
    it done. Any other entry in between (which may run a script's __del__) undoes that.
    """
    global _ready
    _r()
    _prepare()
    _ready = True


def _begin(depth, _r=_restore):
    # The first step of every request entry (bound as its default): the runtime's names
    # back (native), the request's start (unless prepare() did it just before).
    global _MAX_DEPTH
    ready = _ready
    _r()
    if not ready:
        _prepare()
    _MAX_DEPTH = depth
    del _made[:]


def refresh(_r=_restore):
    """What _begin does but the depth: for a caller that runs script code without an entry (native fast path)."""
    _r()
    _prepare()


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
    _display_last(value)
    try:
        data = _dump(value, 'result')
    except NoValueForm:
        data = _mdumps(_short_repr(value), _MARSHAL)
    return _answer(data)


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


def call(fn, nargs, handles, optional, depth, _b=_begin):
    _b(depth)

    def go():
        f = _lookup(fn)
        if f is _MISSING or not callable(f):
            if optional:
                return '{"ok":true,"value":null,"defined":false}'
            what = 'is not defined' if f is _MISSING else f'has type {type(f).__name__}, not a function'
            return _fail({'kind': 'invalid', 'type': 'NameError',
                          'message': f"Python function '{fn}' {what}; define it with load() first (dotted names look up attributes)"})
        return _then(f(*_args(nargs, handles)), _result)
    return _guard(go)


def install_wheel(path, _r=_restore):
    import zipfile, importlib.metadata
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


# Whether a package set's import is running (import_packages): its audit hook refuses, while
# it is, every step that would reach JavaScript objects the boot still holds.
_importing_packages = [False]


def import_packages(names_json):
    """
    Boot, before the snapshot (wasm/python/packages.ts): imports a package set's modules.
    Package code runs before the lockdown seal, while Pyodide still holds JavaScript objects
    (it needs them for the snapshot). So meanwhile the modules that reach JavaScript are
    hidden and refused, every place the seal later empties (_js_holders) is emptied, and
    _package_hook refuses the steps that could find what was set aside (a gc walk, a frame,
    a trace function, an audit hook of its own). Put back afterwards, for the snapshot; the
    seal empties them again for good. Returns what failed, or None.
    """
    import importlib
    if not _package_hook_added[0]:
        def hook(event, args, _on=_importing_packages, _err=RuntimeError, _refused=_TAINTING | {'sys.addaudithook'}):
            if _on[0] and event in _refused:
                raise _err(f'{event} is not allowed while the engine imports its package set (package code runs before the sandbox is sealed)')
        sys.addaudithook(hook)
        _package_hook_added[0] = True
    hidden = {k: sys.modules.pop(k) for k in list(sys.modules) if k.partition('.')[0] in _BLOCKED}
    slots, attrs, tables = _js_holders()
    kept = ([(o, k, o[k]) for o, k in slots], [(o, k, getattr(o, k)) for o, k in attrs], [(o, dict(o.jsproxies)) for o in tables])
    _drop_js((slots, attrs, tables))
    sys.meta_path.insert(0, _Blocker)
    _importing_packages[0] = True
    try:
        for name in _loads(names_json, _scan_plain):
            try:
                importlib.import_module(name)
            except Exception as e:
                return f'{name}: {type(e).__name__}: {e}'
        return None
    finally:
        _importing_packages[0] = False
        sys.meta_path.remove(_Blocker)
        sys.modules.update(hidden)
        for o, k, v in kept[0]:
            o[k] = v
        for o, k, v in kept[1]:
            setattr(o, k, v)
        for o, table in kept[2]:
            o.jsproxies.update(table)


_package_hook_added = [False]

# ==== the event loop and host.aio =============================================

# Two ways to wait for the host:
# - Blocking (SharedArrayBuffer, native CPython, inline): the selector waits in the device
#   ('await') until results come, so any coroutine can run to the end where it is, with
#   run_until_complete (_run; _then is just k(_run(value))).
# - The trampoline (the worker's postMessage fallback, set by set_trampoline): the thread
#   must not block, and a device read is synchronous C code, so only JavaScript can wait.
#   A request body awaits at its top level in continuation-passing style, `return
#   _then(value, k)`; an awaitable value runs as a task until the loop would wait (the
#   selector raises _Park), then the entry returns {"pending": true, "wait": seconds |
#   null}; JavaScript waits without blocking for host results or the next timer and calls
#   resume(), which hands the results over (the device's 'await' answers what JavaScript
#   collected), runs the task on and, once it is done, calls k.
#   A coroutine run from synchronous code (asyncio.run() inside a function) cannot unwind
#   to JavaScript: needing the host there raises an UnavailableError that says so.

_aio_pending = {}
_AGEN_HOOKS = sys.get_asyncgen_hooks()
_trampoline = False
# The loop is run by _pump (a request's own awaitable), so waiting may park the request.
_pumping = False
_pump_since = 0.0
# (task, continuation) of the request parked until the host answers (see _then).
_parked = None
# A pumped loop that keeps running callbacks yields to the host this often (seconds), so
# host.aio results still arrive (a busy loop would never wait otherwise).
_PARK_EVERY = 0.05
_NESTED = ('a host.aio call must wait for the host here, and without SharedArrayBuffer (a page that is not '
           'cross-origin isolated) only the script itself can wait, not a coroutine run from synchronous code '
           '(asyncio.run(), run_until_complete()); await it at the top level of the script instead (await main(); '
           'for call(), make the called function async), or serve the page with Cross-Origin-Opener-Policy: '
           'same-origin and Cross-Origin-Embedder-Policy: require-corp')


def set_trampoline(on=True):
    global _trampoline
    _trampoline = bool(on)


def _settle(reply):
    handles, results = reply
    for r in results:
        fut = _aio_pending.pop(r['id'], None)
        if fut is None or fut.done():
            continue
        if r['ok']:
            try:
                value = _host_value(r['value'], handles, 'the host.aio result')
            except BadHandle as e:
                fut.set_exception(_host_exception(e.info))
                continue
            fut.set_result(value)
        else:
            fut.set_exception(_host_exception(r['error']))


@_opaque_methods
class _Park(BaseException):
    """Raised by the selector of a pumped loop that would wait: JavaScript waits instead."""

    def __init__(self, wait):
        super().__init__(wait)
        self.wait = wait


@_opaque_methods
class _Selector:
    def select(self, timeout=None):
        if _pumping:
            if timeout != 0 or (_aio_pending and time.monotonic() - _pump_since > _PARK_EVERY):
                if timeout is None and not _aio_pending:
                    raise RuntimeError('scriptbox: the event loop has nothing left to run but a future that never completes')
                raise _Park(timeout)
            return []
        if _aio_pending and not _trampoline:
            # Host calls are out: wait for their answers, briefly, so timers still fire.
            wait = 0.05 if timeout is None else min(timeout, 0.05)
            _settle(_request(['await', wait]))
            return []
        if timeout is None:
            if _aio_pending:
                raise HostError('UnavailableError', _NESTED)
            raise RuntimeError('scriptbox: the event loop has nothing left to run but a future that never completes')
        if timeout > 0:
            sleep(timeout)
        return []

    def close(self):
        pass


@_opaque_methods
class ScriptLoop(asyncio.BaseEventLoop):
    """A plain asyncio loop: timers sleep in slices the host can interrupt; no sockets."""

    def __init__(self):
        super().__init__()
        self._selector = _Selector()

    def _process_events(self, event_list):
        pass

    def _write_to_self(self):
        pass


_loop = ScriptLoop()
asyncio.events._set_running_loop(None)


def _new_loop():
    return ScriptLoop()


def _get_loop():
    return _loop


def _asyncio_run(main, *, debug=None, loop_factory=None):
    if _loop.is_running():
        raise RuntimeError('asyncio.run() cannot be called from a running event loop; await the coroutine instead')
    return _run(main)


_opaque_new_loop = _opaque(_new_loop)
_opaque_get_loop = _opaque(_get_loop)
_opaque_asyncio_run = _opaque(_asyncio_run)


def _install_aio():
    # Part of _install_globals: asyncio's entry points lead to this loop.
    asyncio.new_event_loop = _opaque_new_loop
    asyncio.events.new_event_loop = _opaque_new_loop
    asyncio.get_event_loop = _opaque_get_loop
    asyncio.set_event_loop(_loop)
    asyncio.run = _opaque_asyncio_run
    asyncio.runners.run = _opaque_asyncio_run



def _awaits(value):
    return asyncio.iscoroutine(value) or isinstance(value, asyncio.Future)


def _fresh_loop():
    # Tasks left by a failed or stopped run must not wake up in the next one.
    global _loop
    _loop = ScriptLoop()
    asyncio.set_event_loop(_loop)
    _aio_pending.clear()


def _run(value):
    if asyncio.iscoroutine(value) or isinstance(value, asyncio.Future):
        if _loop.is_running():
            raise RuntimeError('scriptbox: cannot run a coroutine while another one runs')
        try:
            return _loop.run_until_complete(value)
        except BaseException:
            _fresh_loop()
            raise
    return value


# ---- requests: run to the end here, or parked and resumed by JavaScript --------------

def _then(value, k):
    """
    k(value, awaited if it is awaitable): how a request body awaits at its top level. Its
    result must be returned as is (tail position): in the trampoline it may be the pending
    marker, and then resume() calls k once the value is there.
    """
    if not _trampoline or not _awaits(value):
        return k(_run(value))
    task = value
    if asyncio.iscoroutine(value):
        task = _loop.create_task(value)
        # Abandoned (stopped while parked), the task goes quietly.
        task._log_destroy_pending = False
    return _drive(task, k)


def _drive(task, k):
    global _parked
    try:
        value = _pump(task)
    except _Park as p:
        _parked = (task, k)
        return _dumps({'pending': True, 'wait': p.wait})
    return k(value)


def _pump(task):
    """The loop until task is done (its result), or until it would wait (_Park)."""
    global _pumping, _pump_since
    _pumping, _pump_since = True, time.monotonic()
    try:
        return _loop.run_until_complete(task)
    except _Park:
        raise
    except BaseException:
        _fresh_loop()
        raise
    finally:
        _pumping = False


def resume(_r=_restore):
    """The parked request, run on with what JavaScript collected (through the device)."""
    global _parked
    _r()
    task, k = _parked
    _parked = None

    def go():
        _settle(_request(['await', 0]))
        return _drive(task, k)
    return _guard(go)


def abandon(_r=_restore):
    """
    After a request was stopped (called with no stop pending): drops it and its tasks, and
    undoes what the stop may have cut short (the loop's own cleanup, _pump's finally).
    """
    global _parked, _pumping
    _r()
    _parked = None
    _pumping = False
    asyncio.events._set_running_loop(None)
    sys.set_asyncgen_hooks(*_AGEN_HOOKS)
    _fresh_loop()


# ---- host.aio -----------------------------------------------------------------------

async def _host_acall(name, args):
    wire = _wire_args(name, args)
    _, reply = _request(['astart', name, wire])
    if not reply[0]:
        raise _host_exception(reply[1])
    fut = asyncio.get_running_loop().create_future()
    _aio_pending[reply[1]] = fut
    try:
        return await fut
    finally:
        _aio_pending.pop(reply[1], None)

# ==== the handle table ========================================================

# A handle names an object the host may not see as a value (an instance, a function): the
# host holds WireHandle(engineId, id, kind), this table holds the object. Ids grow from 1
# and are never reused within this interpreter, and every handle that leaves has its own
# id, so a release never frees an object another RemoteObject still uses. Wire tags: host
# -> Python ['h', [id, kind, engineId]], Python -> host ['h', [id, kind]].

_next_handle = 1
# Handles the current request registered: dropped if its reply is thrown away.
_made = []
_ENGINE = ''


def set_engine(engine_id):
    global _ENGINE
    _ENGINE = str(engine_id)


def _new_handle(v):
    global _next_handle
    hid = _next_handle
    _next_handle += 1
    _handles[hid] = v
    _made.append(hid)
    return _tag('h', hid, type(v).__name__)


def _result(v, as_handle=False):
    # A reply that fails halfway must not leave the handles it made behind.
    start = len(_made)
    try:
        wire = _new_handle(v) if as_handle else _enc(v, 'result', 0, set(), True)
        return _answer(_mdumps(wire, _MARSHAL))
    except BaseException:
        for hid in _made[start:]:
            _handles.pop(hid, None)
        del _made[start:]
        raise


def _bad_info(data, path):
    hid, kind, engine = data
    if engine != _ENGINE:
        return {'kind': 'invalid', 'type': 'InvalidInputError', 'path': path,
                'message': f'{path} is a handle to {kind} #{hid} from another engine ({engine}); a handle works only in the engine that made it'}
    what = f'a handle to {kind} #{hid}' if kind else f'a handle #{hid}'
    return {'kind': 'invalid', 'type': 'DisposedError', 'path': path,
            'message': f'{path} is {what}, which is no longer alive in this engine; it was disposed or the engine restarted'}


def _resolve_tree(v, path):
    """
    A value from the host with its handle tags ('h', id, kind, engineId) replaced by the
    objects they name; BadHandle for one this engine no longer holds (or another engine's).
    The host says when a value holds handles, so plain values are never walked.
    """
    t = type(v)
    if t is tuple:
        if len(v) == 4 and v[0] == 'h':
            hid, kind, engine = v[1], v[2], v[3]
            if engine == _ENGINE:
                obj = _handles.get(hid, _MISSING)
                if obj is not _MISSING:
                    return obj
            raise BadHandle(_bad_info([hid, kind, engine], path))
        return tuple(_resolve_tree(x, f'{path}[{j}]') for j, x in enumerate(v))
    if t is list:
        return [_resolve_tree(x, f'{path}[{j}]') for j, x in enumerate(v)]
    if t is dict:
        return {_resolve_tree(k, f'{path} key'): _resolve_tree(x, f'{path}.{k}' if type(k) is str else f'{path}[{k!r}]')
                for k, x in v.items()}
    return v


class BadHandle(Exception):
    def __init__(self, info):
        super().__init__(info['message'])
        self.info = info


def _args(n, handles):
    """An entry's arguments: n bytes of marshal the host put on the value channel."""
    if not n:
        return ()
    args = _mloads(_read(_VAL, n))
    return _resolve_tree(args, 'args') if handles else args


def _held(hid):
    obj = _handles.get(hid, _MISSING)
    if obj is _MISSING:
        raise BadHandle(_bad_info([hid, '', _ENGINE], 'handle'))
    return obj


def create(cls, nargs, handles, depth, _b=_begin):
    _b(depth)

    def go():
        f = _lookup(cls)
        if f is _MISSING or not callable(f):
            what = 'is not defined' if f is _MISSING else f'has type {type(f).__name__}, not a class or factory'
            return _fail({'kind': 'invalid', 'type': 'NameError',
                          'message': f"Python class '{cls}' {what}; define it with load() first (dotted names look up attributes)"})
        return _then(f(*_args(nargs, handles)), lambda obj: _made_reply(cls, obj))
    return _guard(go)


def _made_reply(cls, obj):
    if obj is None:
        return _fail({'kind': 'script', 'type': 'TypeError', 'message': f"'{cls}' returned None, not an object"})
    return _result(obj, True)


def call_method(hid, method, nargs, handles, depth, _b=_begin):
    _b(depth)

    def go():
        obj = _held(hid)
        # The host checked that method is an identifier; getattr never evaluates it.
        return _then(getattr(obj, method)(*_args(nargs, handles)), _result)
    return _guard(go)


def get_attr(hid, attr, depth, _b=_begin):
    _b(depth)

    def go():
        return _result(getattr(_held(hid), attr))
    return _guard(go)


def release(ids_json, _r=_restore):
    _r()
    for hid in _loads(ids_json, _scan_plain):
        _handles.pop(hid, None)


def drop_made(_r=_restore):
    _r()
    for hid in _made:
        _handles.pop(hid, None)
    del _made[:]


def handle_count(_r=_restore):
    _r()
    return len(_handles)

# ==== the lockdown ============================================================

# Pyodide only (native CPython is trusted or OS-isolated): no module that reaches
# JavaScript stays importable, and no JavaScript object stays where Pyodide's own modules
# keep them. A boot from scratch runs lockdown_prepare and lockdown_seal; a boot that takes
# a memory snapshot runs before_snapshot, then (after the snapshot) after_snapshot and
# lockdown_seal; a restored heap runs after_restore and lockdown_seal.

_BLOCKED = frozenset({'js', 'pyodide_js', 'pyodide', '_pyodide', '_pyodide_core', 'micropip', 'ctypes', '_ctypes', '_scriptbox'})


@_opaque_methods
class _Blocker:
    """Refuses the modules that would hand a script JavaScript objects or raw memory."""

    @staticmethod
    def find_spec(name, path=None, target=None):
        if name.partition('.')[0] in _BLOCKED:
            raise ModuleNotFoundError(f"No module named '{name}': it is not available in the ScriptBox sandbox", name=name)
        return None

    @staticmethod
    def invalidate_caches():
        pass


def _is_js(v):
    return any(c.__name__ == 'JsProxy' for c in type(v).__mro__)


def _js_holders():
    # Where Pyodide's own objects keep JavaScript objects: its modules stay alive (its C
    # side holds them) after lockdown_seal, so their namespaces, the import hook's table
    # and its loaders must let go of every JsProxy.
    import gc
    slots, attrs, tables = [], [], []
    for o in gc.get_objects():
        t = type(o)
        if t is dict:
            if str(o.get('__name__', '')).partition('.')[0] in _BLOCKED:
                slots.extend((o, k) for k, v in o.items() if _is_js(v))
        elif hasattr(o, 'jsproxies') and type(getattr(o, 'jsproxies', None)) is dict:
            tables.append(o)
        elif str(getattr(t, '__module__', '')).partition('.')[0] in _BLOCKED and type(getattr(o, '__dict__', None)) is dict:
            attrs.extend((o, k) for k, v in vars(o).items() if _is_js(v))
    return slots, attrs, tables


def _drop_js(holders):
    slots, attrs, tables = holders
    for o, k in slots:
        o[k] = None
    for o, k in attrs:
        setattr(o, k, None)
    for o in tables:
        o.jsproxies.clear()


def lockdown_prepare():
    """Boot from scratch, no snapshot: drops every JavaScript object Pyodide's modules hold."""
    import gc
    _drop_js(_js_holders())
    gc.collect()


# Found before a memory snapshot is taken and dropped after it (and after every restore of
# it): Pyodide checks that its JavaScript references are all still there when it takes a
# snapshot, and a restored heap is this same heap, so the places are the same. Garbage is
# collected first, so what the drop frees goes by reference counts: no collection (tens
# of milliseconds) after a restore.
_snapshot_holders = None


def before_snapshot():
    global _snapshot_holders
    import gc
    gc.collect()
    _snapshot_holders = _js_holders()


def after_snapshot():
    global _snapshot_holders
    _drop_js(_snapshot_holders)
    _snapshot_holders = None


# The blocked modules lockdown_seal took out of sys.modules: a session snapshot puts them
# back while it is taken (session_save), for Pyodide's restore imports them again.
_sealed_out = {}


def _unlist_blocked():
    out = {}
    for name in list(sys.modules):
        if name.partition('.')[0] in _BLOCKED:
            out[name] = sys.modules.pop(name)
    return out


def lockdown_seal():
    """The last step of every boot: nothing that reaches JavaScript stays importable."""
    sys.meta_path[:] = [_Blocker] + [f for f in sys.meta_path if f is not _Blocker and not hasattr(f, 'jsproxies') and 'JsFinder' not in type(f).__name__]
    # Only real modules are kept: `js` and `pyodide_js` are JavaScript objects (a restore
    # does not import them), and nothing of the runtime may keep one.
    _sealed_out.update((k, m) for k, m in _unlist_blocked().items() if type(m) is type(sys))
    # The host keeps the entry points it called for; the script gets no name for the module.
    global _EVERY_ENTRY
    _EVERY_ENTRY = False
    _install_globals()
    _seal(True)
    _seal_interpreter()
    _guard_runtime()


# Audit events that hand a script a way into the runtime's globals: a frame (any frame's
# f_back chain reaches the runtime's own frames, whose f_globals are this module's dict), a
# garbage-collector walk, a trace or profile function (it gets every frame). Restricted
# attributes (tb_frame, gi_frame, cr_frame, ag_frame, __code__) all raise object.__getattr__.
_TAINTING = frozenset({'sys._getframe', 'sys._getframemodulename', 'sys._current_frames', 'sys._current_exceptions',
                       'object.__getattr__', 'gc.get_objects', 'gc.get_referrers', 'gc.get_referents',
                       'sys.settrace', 'sys.setprofile', 'sys._settraceallthreads', 'sys._setprofileallthreads',
                       'sys.monitoring.register_callback'})
# Whether this tenant's taint was reported (the host keeps its own flag; this only spares
# repeated writes). A script can find it only after the report went out.
_taint_sent = [False]


def _guard_runtime():
    """
    An audit hook (no script can remove one). It reports the first event of _TAINTING to
    the host through the device (the host then restores the runtime before every entry:
    restore()), refuses code swaps of the runtime's functions (restore() and _restore are
    bound as defaults), and refuses new hooks, which would see every later request, the
    next tenant's too. It uses only its own defaults: nothing a script can reach changes
    what it does.
    """
    def hook(event, args, _rt=globals(), _attrs=frozenset({'__code__', '__defaults__', '__kwdefaults__'}), _get=getattr,
             _err=RuntimeError, _taint=_TAINTING, _sent=_taint_sent, _write=_os_write, _dev=_DEV, _msg=_mdumps(['taint'], _MARSHAL),
             _q=_quiet, _frame_reads=frozenset({'tb_frame', 'f_code'})):
        if event in _taint:
            if _q[0] and event == 'object.__getattr__' and args[1] in _frame_reads:
                return
            if not _sent[0]:
                _sent[0] = True
                _write(_dev, _msg)
        elif event == 'object.__setattr__':
            if args[1] in _attrs and _get(args[0], '__globals__', None) is _rt:
                raise _err("the ScriptBox runtime's functions cannot be changed")
        elif event == 'sys.addaudithook':
            raise _err('audit hooks cannot be added in the ScriptBox sandbox')
    sys.addaudithook(hook)


# What a new tenant finds (reset, through _reset_interpreter): the standard library's
# modules and their attributes, the import machinery and the interpreter hooks as sealed.
_sealed = None


def _seal_interpreter():
    global _sealed
    mods = tuple((name, m, tuple(vars(m).items())) for name, m in list(sys.modules.items())
                 if type(vars(m) if hasattr(m, '__dict__') else None) is dict)
    hooks = tuple((k, getattr(sys, k, None)) for k in ('excepthook', 'displayhook', 'unraisablehook', 'breakpointhook'))
    _sealed = (mods, tuple(sys.meta_path), tuple(sys.path_hooks), tuple(sys.path), hooks)
    _reset_interpreter.__defaults__ = (_sealed,)


def _reset_interpreter(_s=None):
    """
    Puts back what one tenant may have changed for the next (a reuse pool's reset): the
    attributes modules had at boot, sys.modules entries, import hooks, sys hooks, trace and
    profile functions, sys.monitoring tools, gc callbacks. Not put back: attributes added
    since (a submodule imported later is one), classes changed in place, objects inside
    module attributes, modules first imported after boot (they stay imported).
    """
    if _s is None:
        return
    mods, meta, path_hooks, path, hooks = _s
    for name, m, items in mods:
        _modules[name] = m
        vars(m).update(items)
    sys.meta_path[:] = meta
    sys.path_hooks[:] = path_hooks
    sys.path[:] = path
    for k, v in hooks:
        setattr(sys, k, v)
    sys.settrace(None)
    sys.setprofile(None)
    mon = getattr(sys, 'monitoring', None)
    if mon is not None:
        for tool in range(6):
            try:
                mon.set_events(tool, 0)
                if mon.get_tool(tool) is not None:
                    mon.free_tool_id(tool)
            except Exception:
                # A tool id the interpreter does not know: nothing to free.
                pass
    import gc
    gc.callbacks.clear()


def after_restore():
    """What a memory snapshot cannot carry, redone in a restored heap (lockdown_seal follows)."""
    global _DEV, _VAL
    after_snapshot()
    # The heap was snapshotted from a module still in sys.modules: it leaves again at seal.
    # The device's file descriptor lived in the old JavaScript file system.
    _DEV = os.open(_DEVICE, os.O_RDWR)
    if type(_VALUES) is str:
        _VAL = os.open(_VALUES, os.O_RDWR)
    # Every engine restored from one snapshot would draw the same random numbers.
    if 'random' in sys.modules:
        sys.modules['random'].seed()
    # Pyodide's restore puts the working directory on sys.path a second time.
    while sys.path[:2] == ['', '']:
        del sys.path[0]

# ==== session snapshots =======================================================

# A session snapshot (docs/session-snapshots.md) is this heap after user code ran: sealed,
# with the tenant's namespace, handles and imports. Pyodide's restore imports its own
# modules by name and the host finds this module in sys.modules, so they are listed for
# the moment the snapshot is taken (JavaScript takes it between session_save and
# session_saved: no Python runs in between), and unlisted again in the restored heap.

def session_save():
    import gc
    gc.collect()
    sys.modules.update(_sealed_out)


def session_saved():
    _unlist_blocked()


def session_restored():
    """A restored session heap in a new interpreter: what lives outside the heap, redone."""
    global _parked, _pumping
    _unlist_blocked()
    # The devices' descriptors lived in the old JavaScript file system; the audit hook
    # writes to the number it was sealed with, so each is reopened at its old number.
    for path, fd in ((_DEVICE, _DEV), (_VALUES, _VAL)):
        if type(path) is str and type(fd) is int:
            got = os.open(path, os.O_RDWR)
            if got != fd:
                os.dup2(got, fd)
                os.close(got)
    # Engines restored from one snapshot must not draw the same random numbers.
    if 'random' in sys.modules:
        sys.modules['random'].seed()
    while sys.path[:2] == ['', '']:
        del sys.path[0]
    # Handles do not survive a restore (the host's are stale), nor a request parked then.
    _handles.clear()
    del _made[:]
    _parked = None
    _pumping = False
    _taint_sent[0] = False


# ==== boot ==================================================================

# Every part is defined: the first tenant's namespace, host module, event loop and patches.
reset()
