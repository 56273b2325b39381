# An endless loop: press Stop (or call engine.interrupt()) to end it.
n = 0
while True:
    n += 1
