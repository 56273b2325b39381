# A failing script: the error pane shows the type, the message and the traceback.
def average(values):
    return sum(values) / len(values)

print("about to divide")
average([])
