/**
 * The lockdown of the `_scriptbox` module (runtime.ts), run into the same namespace after
 * it: no module that reaches JavaScript stays importable, and no JavaScript object stays
 * where Pyodide's own modules keep them. A boot from scratch runs lockdown_prepare and
 * lockdown_seal; a boot that takes a memory snapshot runs before_snapshot, then (after
 * the snapshot) after_snapshot and lockdown_seal; a restored heap runs after_restore and
 * lockdown_seal.
 */
export const RUNTIME_LOCKDOWN = String.raw`
_BLOCKED = frozenset({'js', 'pyodide_js', 'pyodide', '_pyodide', '_pyodide_core', 'micropip', 'ctypes', '_ctypes'})


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


def lockdown_seal():
    """The last step of every boot: nothing that reaches JavaScript stays importable."""
    sys.meta_path[:] = [_Blocker] + [f for f in sys.meta_path if f is not _Blocker and not hasattr(f, 'jsproxies') and 'JsFinder' not in type(f).__name__]
    for name in list(sys.modules):
        if name.partition('.')[0] in _BLOCKED:
            del sys.modules[name]


def after_restore():
    """What a memory snapshot cannot carry, redone in a restored heap (lockdown_seal follows)."""
    global _DEV
    after_snapshot()
    # The device's file descriptor lived in the old JavaScript file system.
    _DEV = os.open('/dev/scriptbox', os.O_RDWR)
    # Every engine restored from one snapshot would draw the same random numbers.
    if 'random' in sys.modules:
        sys.modules['random'].seed()
    # Pyodide's restore puts the working directory on sys.path a second time.
    while sys.path[:2] == ['', '']:
        del sys.path[0]
`;
