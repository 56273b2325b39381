# Runs the runtime (src/lang/python/runtime.py) into the module `_scriptbox` and gives it
# the Pyodide backend's parameters (wasm/python/boot.ts). Both arrive as the global _sb_boot,
# JSON text [source, [init arguments]]: a string crosses as a Python str, never as a JsProxy.
# The module gets its own copy of the builtins: what a script does to the builtins module
# never changes what the runtime's own code calls.
# It runs in `__main__` and takes away every name it leaves there (so no docstring either).
import builtins, json, sys, types

_m = types.ModuleType('_scriptbox')
_m.__dict__['__builtins__'] = dict(vars(builtins))
sys.modules['_scriptbox'] = _m
_source, _init = json.loads(globals().pop('_sb_boot'))
exec(compile(_source, '<scriptbox>', 'exec'), _m.__dict__)
_m.init(*_init)
del _m, _source, _init, builtins, json, sys, types
