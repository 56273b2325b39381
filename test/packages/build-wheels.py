"""Builds pure-Python wheels for the package tests (stdlib zipfile only; no pip or wheel here).

stdin: JSON [{"dir", "name", "version", "module", "source", "requires": [...], "tag": "py3-none-any"}]
"""
import base64, hashlib, json, os, sys, zipfile

for w in json.load(sys.stdin):
    tag = w.get('tag', 'py3-none-any')
    dist = f"{w['name'].replace('-', '_')}-{w['version']}"
    info = f'{dist}.dist-info'
    meta = f"Metadata-Version: 2.1\nName: {w['name']}\nVersion: {w['version']}\n"
    meta += ''.join(f'Requires-Dist: {r}\n' for r in w.get('requires', []))
    files = {
        f"{w['module']}/__init__.py": w['source'],
        f'{info}/METADATA': meta,
        f'{info}/WHEEL': f'Wheel-Version: 1.0\nGenerator: scriptbox-tests\nRoot-Is-Purelib: true\nTag: {tag}\n',
        f'{info}/top_level.txt': w['module'] + '\n',
    }
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b'=').decode()
        record.append(f'{path},sha256={digest},{len(text.encode())}')
    record.append(f'{info}/RECORD,,')
    files[f'{info}/RECORD'] = '\n'.join(record) + '\n'
    out = os.path.join(w['dir'], f'{dist}-{tag}.whl')
    with zipfile.ZipFile(out, 'w', zipfile.ZIP_DEFLATED) as z:
        for path, text in files.items():
            z.writestr(path, text)
    print(out)
