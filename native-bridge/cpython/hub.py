"""
`_scriptbox_native`: the process-wide Python half of the native backend, loaded once when
the interpreter starts (lib.ts), after the watchdog (watchdog.py) it starts. Every engine
of the process shares one interpreter, so whatever the runtime (src/lang/python/runtime.py)
patches globally (time.sleep, asyncio's loop functions, sys.stdout, sys.modules['host']) is
routed here to the engine running on the current thread: JS names that engine's module in
`_local.m` when a request starts. The runtime gets these routes, and the device emulated
over a ctypes callback into JS, as its init() parameters (new_engine).
"""
import asyncio, asyncio.events, asyncio.runners, builtins, ctypes, io, json, marshal, os, sys, threading, time, types
import _scriptbox_watchdog as _watchdog
from _scriptbox_watchdog import C_RUNNING, C_IDENT, C_PENDING, C_STREAM, C_SEQ, C_SIZE

if not hasattr(sys, 'argv'):
    sys.argv = ['']

# What JS calls on this module and the watchdog answers (core.ts).
settle, wake, WD_ADDR = _watchdog.settle, _watchdog.wake, _watchdog.WD_ADDR

NONE, TRUE, FALSE = None, True, False
NONE_TYPE = type(None)
INT, FLOAT, STR, LIST, TUPLE = int, float, str, list, tuple

_local = threading.local()
_mono = time.monotonic
_real_sleep = time.sleep
_real_new_loop = asyncio.new_event_loop
_real_get_loop = asyncio.get_event_loop
_real_run = asyncio.run


def thread_ident():
    return float(threading.get_ident())


def monotonic_ms():
    return _mono() * 1000.0


def _engine():
    return getattr(_local, 'm', None)


# ---- routing the runtime's global patches to the current thread's engine -------------

def _sleep(seconds):
    m = _engine()
    return _real_sleep(seconds) if m is None else m.sleep(seconds)


def _input(prompt=''):
    m = _engine()
    if m is None:
        raise EOFError('input(): no ScriptBox engine runs on this thread')
    return m._input(prompt)


def _display(*objs):
    m = _engine()
    if m is None:
        raise RuntimeError('display(): no ScriptBox engine runs on this thread')
    return m.display(*objs)


def _new_event_loop():
    m = _engine()
    return _real_new_loop() if m is None else m._new_loop()


def _get_event_loop():
    m = _engine()
    return _real_get_loop() if m is None else m._loop


def _asyncio_run(main, **kw):
    m = _engine()
    return _real_run(main, **kw) if m is None else m._asyncio_run(main, **kw)


def _proxy_class():
    """sys.modules['host']'s class: the host module of the engine running on this thread."""

    class HostProxy(types.ModuleType):
        def _real(self):
            m = _engine()
            if m is None:
                raise RuntimeError('host functions can only be called from the thread that runs the script (no ScriptBox engine runs on this thread)')
            return m._sb_host

        def __getattr__(self, attr):
            if attr.startswith('__'):
                raise AttributeError(attr)
            return getattr(type(self)._real(self), attr)

        def __setattr__(self, attr, value):
            raise AttributeError('the host module is read-only')

        def __delattr__(self, attr):
            raise AttributeError('the host module is read-only')

        def __dir__(self):
            return dir(type(self)._real(self))

    return HostProxy


_HOST_DOC = 'Functions the host granted to this script. host.name(...) blocks until the host answers.'
_proxy_state = None


def _host_proxy():
    """
    A new proxy for every request (the engines publish it, see _publisher), of a class made
    anew whenever a script changed it: what a script set on the last one is gone.
    """
    global _proxy_state
    st = _proxy_state
    if st is None or not _intact(st):
        cls = _proxy_class()
        _proxy_state = st = (cls, type(cls), cls.__bases__, cls.__mro__, tuple(vars(cls).items()))
    return st[0]('host', _HOST_DOC)


def _intact(state):
    # Compared by identity: a value with its own __eq__ cannot pass for another.
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


host_proxy = _host_proxy()


class _Stream(io.TextIOBase):
    """sys.stdout / sys.stderr: the current engine's capture, else the process's stream."""

    def __init__(self, which, real):
        self._which = which
        self._real = real

    @property
    def encoding(self):
        return 'utf-8'

    @property
    def errors(self):
        return 'strict'

    def writable(self):
        return True

    def isatty(self):
        return False

    def write(self, s):
        m = _engine()
        if m is None:
            return self._real.write(s) if self._real is not None else len(s)
        if type(s) is not str:
            if not isinstance(s, str):
                raise TypeError(f'write() argument must be str, not {type(s).__name__}')
            s = str(s)
        m._sb_out.write(self._which, s)
        return len(s)

    def flush(self):
        m = _engine()
        if m is None:
            if self._real is not None:
                self._real.flush()
        elif m._sb_out.stream():
            m._sb_out.flush()


_streams = (_Stream(0, sys.stdout), _Stream(1, sys.stderr))


class _Stdin(io.TextIOBase):
    """sys.stdin: the current engine's (lines from its onInput, runtime.py _Stdin), else the process's stream."""

    def __init__(self, real):
        self._real = real

    def _target(self):
        m = _engine()
        if m is not None:
            return m._stdin
        if self._real is None:
            raise OSError('no stdin')
        return self._real

    def readable(self):
        return True

    def isatty(self):
        return False

    def readline(self, size=-1):
        return self._target().readline(size)

    def read(self, size=-1):
        return self._target().read(size)

    def readlines(self, hint=-1):
        return self._target().readlines(hint)

    def __next__(self):
        line = self.readline()
        if not line:
            raise StopIteration
        return line

    def __iter__(self):
        return self


_stdin = _Stdin(sys.stdin)


def _install():
    time.sleep = _sleep
    asyncio.new_event_loop = asyncio.events.new_event_loop = _new_event_loop
    asyncio.get_event_loop = _get_event_loop
    asyncio.run = asyncio.runners.run = _asyncio_run
    sys.modules['host'] = host_proxy
    sys.stdout, sys.stderr = _streams
    # input(), sys.stdin and display() reach the engine's onInput and outputs (runtime.py).
    builtins.input, builtins.display = _input, _display
    sys.stdin = _stdin


# ---- per-engine output buffer ---------------------------------------------------------

class _Out:
    """What a request prints, sent to JS in batches: a callback per print would cost more than the print."""

    def __init__(self, ctrl, send, limit):
        self.ctrl = ctrl
        self.send = send
        self.limit = limit
        self.seq = -1.0
        self.parts = []
        self.size = 0
        self.total = 0
        self.last = 0.0

    def stream(self):
        return self.ctrl[C_STREAM] != 0.0

    def write(self, which, s):
        c = self.ctrl
        if self.seq != c[C_SEQ]:
            self.seq = c[C_SEQ]
            self.total = 0
            self.last = _mono()
        # Past the cap nothing more is kept; JS cuts the text and marks it truncated.
        if self.total > self.limit or not s:
            return
        self.total += len(s)
        self.parts.append([which, s])
        self.size += len(s)
        c[C_PENDING] = 1.0
        if self.size >= 4096 or (c[C_STREAM] != 0.0 and _mono() - self.last >= 0.025):
            self.flush()

    def take(self):
        parts, self.parts, self.size = self.parts, [], 0
        self.ctrl[C_PENDING] = 0.0
        self.last = _mono()
        return parts

    def take_json(self):
        return json.dumps(self.take())

    def flush(self):
        if self.parts:
            self.send(['out', self.take()], False)


# ---- the transport: the runtime's two channels emulated over a ctypes callback into JS --

# (kind, data, length, reply buffer, its size) -> the reply's length, or minus the length
# of a reply (or an error, then a failure) waiting for a bigger buffer (kind FETCH).
_CB = ctypes.CFUNCTYPE(ctypes.c_int64, ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_void_p, ctypes.c_size_t)
# The kinds of exchange (transport.ts): a request in marshal's format (the reply is framed
# as the runtime reads it), an entry's result written, an entry's arguments read, a fetch.
REQUEST, VALUE_OUT, VALUE_IN, FETCH = 0, 1, 2, 3
DEVICE_FD = -0x5b
VALUE_FD = -0x5c


class _Transport:
    def __init__(self, addr, ctrl):
        self.fn = _CB(addr)
        self.ctrl = ctrl
        self.buf = ctypes.create_string_buffer(1 << 16)
        self.out = None

    def exchange(self, kind, data=None):
        # ctypes releases the GIL around the call: other engines run while the host answers.
        if threading.get_ident() != int(self.ctrl[C_IDENT]) or self.ctrl[C_RUNNING] == 0.0:
            raise RuntimeError('host functions can only be called from the thread that runs the script, while it runs')
        if kind == REQUEST and self.out is not None and self.out.parts:
            self.out.flush()
        buf = self.buf
        n = self.fn(kind, data, len(data) if data else 0, ctypes.addressof(buf), len(buf))
        if n < 0:
            if -n > len(buf):
                self.buf = buf = ctypes.create_string_buffer(-n)
            n = self.fn(FETCH, None, 0, ctypes.addressof(buf), len(buf))
            if n < 0:
                raise RuntimeError('scriptbox host channel: ' + ctypes.string_at(buf, -n).decode('utf-8', 'replace'))
        return ctypes.string_at(buf, n)

    def send(self, msg, flush=True):
        return self.exchange(REQUEST, marshal.dumps(msg, 2))


class _Device:
    """The runtime's channels (init's io): a request and the reads of its reply are one exchange with the host."""

    def __init__(self, transport):
        self._t = transport
        self._reply = b''
        self._pos = 0

    def write(self, fd, data):
        if fd == VALUE_FD:
            self._t.exchange(VALUE_OUT, bytes(data))
            return len(data)
        if fd != DEVICE_FD:
            return os.write(fd, data)
        self._reply = self._t.exchange(REQUEST, bytes(data))
        self._pos = 0
        return len(data)

    def read(self, fd, n):
        if fd == VALUE_FD:
            return self._t.exchange(VALUE_IN)
        if fd != DEVICE_FD:
            return os.read(fd, n)
        pos = self._pos
        chunk = self._reply[pos:pos + n]
        self._pos = pos + len(chunk)
        return chunk


# ---- engines ----------------------------------------------------------------------------

_engines = {}
_codes = {}


def new_engine(source, cb_addr, word_addr, limit, stops_json):
    """Runs the runtime into a fresh module and gives it this backend's parameters: (module, ctrl address)."""
    ctrl = (ctypes.c_double * C_SIZE)()
    m = types.ModuleType('_scriptbox')
    d = m.__dict__
    code = _codes.get(source)
    if code is None:
        code = _codes[source] = compile(source, '<scriptbox>', 'exec')
    exec(code, d)
    t = _Transport(int(cb_addr), ctrl)
    out = _Out(ctrl, t.send, int(limit))
    t.out = out
    dev = _Device(t)
    d['_sb_out'] = out
    d['_sb_ctrl'] = ctrl
    # The runtime puts host and its standard-library patches back before every request;
    # here both route by thread (one interpreter, many engines).
    m.init(DEVICE_FD, stops_json, (dev.write, dev.read), _publisher(d), _install, VALUE_FD)
    m._fresh_host()
    _install()
    # The runtime's names as they are now are what every entry puts back (_restore).
    m._seal(False)
    word = ctypes.c_int32.from_address(int(word_addr)) if word_addr else None
    _engines[id(m)] = (ctrl, word)
    return (m, float(ctypes.addressof(ctrl)))


def _publisher(d):
    def publish(h):
        global host_proxy
        d['_sb_host'] = h
        host_proxy = sys.modules['host'] = _host_proxy()
    return publish


def drop_engine(m):
    _engines.pop(id(m), None)
    if getattr(_local, 'm', None) is m:
        _local.m = None


def set_current(m):
    _local.m = m


def refresh(m):
    """Before a request that calls script code directly (core.ts fastCall): host and the runtime's names put back."""
    m.refresh()


def global_g(m):
    return m.G


def slow_result(m, value, depth):
    """The reply for a value the fast path cannot convert (awaits coroutines, makes handles)."""
    m._begin(depth)
    return m._guard(lambda: m._result(m._run(value)))


def fail_json(m, exc):
    """The reply for an exception the fast path caught."""
    def again():
        raise exc
    return m._guard(again)


def describe(exc):
    return json.dumps({'type': type(exc).__name__, 'message': str(exc)})


def private_site():
    """A site-packages folder of this process, first on sys.path, where install() puts wheels."""
    import tempfile
    path = os.path.join(tempfile.gettempdir(), f'scriptbox-cpython-{os.getpid()}', 'site-packages')
    os.makedirs(path, exist_ok=True)
    if path not in sys.path:
        sys.path.insert(0, path)
    return path


_watchdog.start(_engines, _engine)
