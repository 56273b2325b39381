/**
 * The event loop and `host.aio` of the `_scriptbox` module (runtime.ts), run into the same
 * namespace after it. Two ways to wait for the host:
 *
 * - Blocking (SharedArrayBuffer, native CPython, inline): the selector waits in the
 *   `/dev/scriptbox` device ('await') until results come, so any coroutine can run to the
 *   end where it is, with `run_until_complete` (_run; _then is just k(_run(value))).
 * - The trampoline (the worker's postMessage fallback, set by set_trampoline): the thread
 *   must not block, and a device read is synchronous C code, so only JavaScript can wait.
 *   A request body awaits at its top level in continuation-passing style, `return
 *   _then(value, k)`; an awaitable value runs as a task until the loop would wait (the
 *   selector raises _Park), then the entry returns `{"pending": true, "wait": seconds |
 *   null}`; JavaScript waits without blocking for host results or the next timer and calls
 *   resume(), which hands the results over (the device's 'await' answers what JavaScript
 *   collected), runs the task on and, once it is done, calls k.
 *   A coroutine run from synchronous code (asyncio.run() inside a function) cannot unwind
 *   to JavaScript: needing the host there raises an UnavailableError that says so.
 */
export const RUNTIME_AIO = String.raw`
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


def set_trampoline():
    global _trampoline
    _trampoline = True


def _settle(results):
    for r in results:
        fut = _aio_pending.pop(r['id'], None)
        if fut is None or fut.done():
            continue
        if r['ok']:
            fut.set_result(r['value'])
        else:
            fut.set_exception(_host_exception(r['error']))


class _Park(BaseException):
    """Raised by the selector of a pumped loop that would wait: JavaScript waits instead."""

    def __init__(self, wait):
        super().__init__(wait)
        self.wait = wait


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


def _install_aio():
    # Part of _install_globals (runtime.ts): asyncio's entry points lead to this loop.
    asyncio.new_event_loop = _new_loop
    asyncio.events.new_event_loop = _new_loop
    asyncio.get_event_loop = _get_loop
    asyncio.set_event_loop(_loop)
    asyncio.run = _asyncio_run
    asyncio.runners.run = _asyncio_run


_install_globals()


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
    reply = _request(['astart', name, wire])
    if not reply[0]:
        raise _host_exception(reply[1])
    fut = asyncio.get_running_loop().create_future()
    _aio_pending[reply[1]] = fut
    try:
        return await fut
    finally:
        _aio_pending.pop(reply[1], None)
`;
