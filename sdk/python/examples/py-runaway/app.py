"""py-runaway: tools that never finish on their own. The sandbox stops `spin` when its fuel (or
its time) runs out and `hog` when it reaches its memory limit; the host then drops the instance
and keeps serving. `calls` shows that warm instances are reused between calls, and that a
stopped one is not."""

import chitin_sdk as chitin

# Module state lives as long as the instance: Python plugins run in warm instances that the
# host reuses (and recycles after a while, or after any trap).
served = 0


def count_call():
    global served
    served += 1


@chitin.tool("spin", "Loops forever (the sandbox stops it).")
def spin(args, ctx):
    count_call()
    n = 0
    while True:
        n += 1


@chitin.tool("hog", "Allocates memory without end (the sandbox stops it).")
def hog(args, ctx):
    count_call()
    kept = []
    while True:
        kept.append(bytearray(1 << 20))


@chitin.tool("calls", "How many calls this instance has served, this one included.")
def calls(args, ctx):
    count_call()
    return str(served)


Tool = chitin.Tool
