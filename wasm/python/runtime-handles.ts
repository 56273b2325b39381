/**
 * The handle table of the `_scriptbox` module (runtime.ts), run into the same namespace
 * after it. A handle names an object the host may not see as a value (an instance, a
 * function): the host holds `WireHandle(engineId, id, kind)`, this table holds the object.
 * Ids grow from 1 and are never reused within this interpreter, and every handle that
 * leaves has its own id, so a release never frees an object another RemoteObject still uses.
 * Wire tags: host -> Python `['h', [id, kind, engineId]]`, Python -> host `['h', [id, kind]]`.
 */
export const RUNTIME_HANDLES = String.raw`
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
    return _tag('h', [hid, type(v).__name__])


def _result(v, as_handle=False):
    # A reply that fails halfway must not leave the handles it made behind.
    start = len(_made)
    try:
        wire = _new_handle(v) if as_handle else _enc(v, 'result', 0, set(), True)
        return '{"ok":true,"value":' + _dumps(wire) + '}'
    except BaseException:
        for hid in _made[start:]:
            _handles.pop(hid, None)
        del _made[start:]
        raise


def _resolve(data):
    # The reply scanner's hook for a handle tag: the live object, or None and a note in _dead.
    if data[2] == _ENGINE:
        obj = _handles.get(data[0], _MISSING)
        if obj is not _MISSING:
            return obj
    _dead.append(data)
    return None


class _Ref:
    """A handle tag left unresolved, to find where a dead one sits."""
    __slots__ = ('data',)

    def __init__(self, data):
        self.data = data


def _ref_hook(d):
    if len(d) == 1 and _TAG in d and d[_TAG][0] == 'h':
        return _Ref(d[_TAG][1])
    return _untag(d)


_scan_ref = _scanner(_ref_hook)


def _bad_info(data, path):
    hid, kind, engine = data
    if engine != _ENGINE:
        return {'kind': 'invalid', 'type': 'InvalidInputError', 'path': path,
                'message': f'{path} is a handle to {kind} #{hid} from another engine ({engine}); a handle works only in the engine that made it'}
    what = f'a handle to {kind} #{hid}' if kind else f'a handle #{hid}'
    return {'kind': 'invalid', 'type': 'DisposedError', 'path': path,
            'message': f'{path} is {what}, which is no longer alive in this engine; it was disposed or the engine restarted'}


def _find_bad(v, path):
    # Walks a tree parsed with _ref_hook (plain data only): the first dead handle's failure.
    t = type(v)
    if t is _Ref:
        d = v.data
        return None if d[2] == _ENGINE and d[0] in _handles else _bad_info(d, path)
    if t is list or t is tuple:
        for j, x in enumerate(v):
            f = _find_bad(x, f'{path}[{j}]')
            if f:
                return f
    elif t is dict:
        for k, x in v.items():
            f = _find_bad(k, f'{path} key') or _find_bad(x, f'{path}.{k}' if type(k) is str else f'{path}[{k!r}]')
            if f:
                return f
    return None


class BadHandle(Exception):
    def __init__(self, info):
        super().__init__(info['message'])
        self.info = info


def _args(args_json):
    del _dead[:]
    args = _loads(args_json, _scan_untag)
    if _dead:
        del _dead[:]
        # Rare: parse again without resolving, to name the path of the dead handle.
        raise BadHandle(_find_bad(_loads(args_json, _scan_ref), 'args'))
    return args


def _host_dead(msg, raw, reply):
    plain = _loads(raw, _scan_ref)
    if msg[0] == 'call':
        f = _find_bad(plain[1], f'host.{msg[1]} result')
        return [False, f] if f else reply
    if msg[0] == 'await':
        for j, r in enumerate(plain):
            f = r.get('ok') and _find_bad(r.get('value'), 'the host.aio result')
            if f:
                reply[j] = {'id': r['id'], 'ok': False, 'error': f}
    return reply


def _held(hid):
    obj = _handles.get(hid, _MISSING)
    if obj is _MISSING:
        raise BadHandle(_bad_info([hid, '', _ENGINE], 'handle'))
    return obj


def create(cls, args_json, depth, _b=_begin):
    _b(depth)

    def go():
        f = _lookup(cls)
        if f is _MISSING or not callable(f):
            what = 'is not defined' if f is _MISSING else f'has type {type(f).__name__}, not a class or factory'
            return _fail({'kind': 'invalid', 'type': 'NameError',
                          'message': f"Python class '{cls}' {what}; define it with load() first (dotted names look up attributes)"})
        return _then(f(*_args(args_json)), lambda obj: _made_reply(cls, obj))
    return _guard(go)


def _made_reply(cls, obj):
    if obj is None:
        return _fail({'kind': 'script', 'type': 'TypeError', 'message': f"'{cls}' returned None, not an object"})
    return _result(obj, True)


def call_method(hid, method, args_json, depth, _b=_begin):
    _b(depth)

    def go():
        obj = _held(hid)
        # The host checked that method is an identifier; getattr never evaluates it.
        return _then(getattr(obj, method)(*_args(args_json)), _result)
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


# The sources before this one are all in: reset() may use all of them from now on.
_installed = True
`;
