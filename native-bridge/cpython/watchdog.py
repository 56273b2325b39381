"""
`_scriptbox_watchdog`: the stop half of the native backend (hub.py holds the rest and
starts it). One daemon thread for the process: while any request runs it wakes every
PERIOD (5 ms), and for each running engine reads the interrupt word and the deadline; on a
stop it raises _Stop in the engine's thread, again at every poll until the request ends.
_Stop, once made on that thread, traces the script's own frames so each further line
raises it again: `except BaseException: pass`, even around a tight inner loop, cannot
swallow a stop. After IDLE_POLLS polls with nothing running it parks on an Event (the next
request wakes it), so idle engines cost nothing. Polling takes the GIL for a few
microseconds every 5-10 ms while a request computes: well under 1% of its time.

It also owns the control block's layout (one block of doubles per engine, allocated by the
hub, written by JS through a koffi view): the C_* indexes, mirrored in control.ts.
"""
import ctypes, sys, threading, time

C_RUNNING, C_DEADLINE, C_STOP, C_IDENT, C_WORD, C_PENDING, C_STREAM, C_SEQ = range(8)
C_SIZE = 8
PERIOD = 0.005
IDLE_POLLS = 200

_mono = time.monotonic
_real_sleep = time.sleep
# Given by start(): every engine's (ctrl, word) by id, and the engine running on this thread.
_engines = {}


def _engine():
    return None


def start(engines, current):
    """Watches the hub's engines; current() names the engine of the calling thread."""
    global _engines, _engine
    _engines, _engine = engines, current
    threading.Thread(target=_watch, name='scriptbox-watchdog', daemon=True).start()


class _Stop(KeyboardInterrupt):
    """What the watchdog raises. It is made on the engine's thread (when a handler catches it
    at the latest), and then traces the script's frames: every further line of the script
    raises it again, so a handler that swallows it cannot keep the script running."""

    def __init__(self, *args):
        super().__init__(*args)
        m = _engine()
        if m is not None and sys.gettrace() is not _tracer:
            sys.settrace(_tracer)
            f = sys._getframe(1)
            while f is not None:
                f.f_trace = _tracer
                f = f.f_back


def _tracer(frame, event, arg):
    m = _engine()
    if m is not None and m._sb_ctrl[C_RUNNING] != 0.0 and event in ('line', 'call') and frame.f_code.co_filename in m._USER_FILES:
        raise _Stop
    return _tracer


def settle():
    """After a stopped request, on its thread: takes a _Stop still queued for it (it fires at
    the first check point here; PyThreadState_SetAsyncExc(id, NULL) would clear it but leave
    the eval breaker set on 3.11, spinning the next call), then stops tracing."""
    try:
        for _ in range(2):
            pass
    except BaseException:
        pass
    if sys.gettrace() is _tracer:
        sys.settrace(None)


wd = (ctypes.c_double * 2)()
wd[0] = 1.0
_wake = threading.Event()


def wake():
    if wd[0] != 0.0:
        wd[0] = 0.0
        _wake.set()


def _watch():
    set_exc = ctypes.pythonapi.PyThreadState_SetAsyncExc
    set_exc.argtypes = [ctypes.c_ulong, ctypes.py_object]
    idle = 0
    while True:
        if wd[0] != 0.0:
            _wake.wait()
            _wake.clear()
            idle = 0
        _real_sleep(PERIOD)
        busy = False
        now = _mono() * 1000.0
        for ctrl, word in list(_engines.values()):
            if ctrl[C_RUNNING] == 0.0:
                continue
            busy = True
            why = ctrl[C_STOP]
            if why == 0.0:
                # The word is read only until a stop is decided: a worker that dies after it
                # may free the memory.
                w = word.value if word is not None else int(ctrl[C_WORD])
                why = float(w) if w in (1, 2, 3) else (2.0 if now > ctrl[C_DEADLINE] else 0.0)
                if why:
                    ctrl[C_STOP] = why
            if why:
                set_exc(int(ctrl[C_IDENT]), _Stop)
        if busy:
            idle = 0
            continue
        idle += 1
        if idle >= IDLE_POLLS:
            wd[0] = 1.0
            # A request that started meanwhile is seen here (both sides hold the GIL).
            if any(c[C_RUNNING] != 0.0 for c, _ in _engines.values()):
                wd[0] = 0.0
                idle = 0


WD_ADDR = float(ctypes.addressof(wd))
