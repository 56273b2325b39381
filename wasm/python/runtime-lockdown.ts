/**
 * The lockdown of the `_scriptbox` module (runtime.ts), run into the same namespace after
 * it: no module that reaches JavaScript stays importable, and no JavaScript object stays
 * where Pyodide's own modules keep them. A boot from scratch runs lockdown_prepare and
 * lockdown_seal; a boot that takes a memory snapshot runs before_snapshot, then (after
 * the snapshot) after_snapshot and lockdown_seal; a restored heap runs after_restore and
 * lockdown_seal.
 */
export const RUNTIME_LOCKDOWN = String.raw`
_BLOCKED = frozenset({'js', 'pyodide_js', 'pyodide', '_pyodide', '_pyodide_core', 'micropip', 'ctypes', '_ctypes', '_scriptbox'})


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
    # The host keeps the entry points it called for; the script gets no name for the module.
    _install_globals()
    _seal(True)
    _seal_interpreter()
    _guard_runtime()


def _guard_runtime():
    """
    An audit hook (no script can remove one): the runtime's functions keep their code and
    defaults (_restore and _begin are bound as defaults), and no script adds a hook of its
    own, which would see every later request, the next tenant's too. It uses only its own
    defaults: nothing a script can reach changes what it does.
    """
    def hook(event, args, _rt=globals(), _attrs=frozenset({'__code__', '__defaults__', '__kwdefaults__'}), _get=getattr, _err=RuntimeError):
        if event == 'object.__setattr__':
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
    global _DEV
    after_snapshot()
    # The heap was snapshotted from a module still in sys.modules: it leaves again at seal.
    # The device's file descriptor lived in the old JavaScript file system.
    _DEV = os.open('/dev/scriptbox', os.O_RDWR)
    # Every engine restored from one snapshot would draw the same random numbers.
    if 'random' in sys.modules:
        sys.modules['random'].seed()
    # Pyodide's restore puts the working directory on sys.path a second time.
    while sys.path[:2] == ['', '']:
        del sys.path[0]
`;
