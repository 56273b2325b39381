# A tiny Python script for `scriptbox run examples/hello.py`.
import json

items = sorted([3, 1, 2])
print("sorted:", json.dumps(items))
len(items)
