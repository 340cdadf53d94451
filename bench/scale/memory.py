"""The guest's memory as the scale bench finds it, and --hold-memory.

On a VM whose balloon device reports freed pages to the host (Linux's
free page reporting, /sys/module/page_reporting), memory a process frees
is soon handed back to the host, and the next process to touch it waits
for the host to back it again: on the bench's machine, touching 1 GiB of
fresh memory took 0.42-0.45 s when the host still backed it and 1.9-2.4
s when it did not. Every save and load touches memory (the page cache, the
tensors), so which tool ran after which, and how much memory the one
before freed, moved the figures more than the code did.

--hold-memory turns the reporting off for the run (it sets the
reporting order above the largest page order, so no freed block
qualifies, and puts the old value back at the end), then touches most
of the free memory once so that the host backs it: every tool then runs
on memory the host already backs, as on bare metal. It needs root and
the kernel's knob; without them it stops the bench with a message.
"""
import os
import signal
import subprocess

KNOB = "/sys/module/page_reporting/parameters/page_reporting_order"
OFF = "11"  # above MAX_PAGE_ORDER (10): no freed block is reported

# Touches N MiB of fresh anonymous memory in a new process; prints the
# seconds it took.
TOUCH = """import mmap, sys, time
n = int(sys.argv[1]) << 20
t0 = time.perf_counter()
m = mmap.mmap(-1, n)
for i in range(0, n, 1 << 20):
    m[i:i + (1 << 20):4096] = b"x" * (1 << 8)
print(time.perf_counter() - t0)"""


def _read(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def touch_seconds(py, mib):
    """Seconds a new process takes to touch mib MiB of fresh memory."""
    r = subprocess.run([py, "-c", TOUCH, str(mib)], stdout=subprocess.PIPE,
                       text=True)
    return float(r.stdout) if r.returncode == 0 else None


def describe(py, held):
    """One line on how this machine treats freed memory, and what
    touching 1 GiB of fresh memory costs now."""
    order = _read(KNOB)
    t = touch_seconds(py, 1024)
    cost = "touching 1 GiB of fresh memory took %s" % (
        "%.2f s" % t if t is not None else "(not measured)")
    if order is None:
        return "Freed memory: no free page reporting on this machine; " + cost
    if held:
        return ("Freed memory: held (--hold-memory: free page reporting "
                "off for the run, free memory touched once first); " + cost)
    return ("Freed memory: reported to the host (free page reporting, "
            "order %s; --hold-memory turns it off for a run); %s" %
            (order, cost))


def available_mib():
    for line in open("/proc/meminfo"):
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) // 1024
    return 0


def check():
    """The reporting order now; stops the bench unless --hold-memory can
    work here (run before anything long)."""
    old = _read(KNOB)
    if old is None or not os.access(KNOB, os.W_OK):
        raise SystemExit("bench-scale: --hold-memory needs root and %s "
                         "(free page reporting); neither is here" % KNOB)
    return old


def _terminate(signum, frame):
    raise SystemExit("bench-scale: terminated (signal %d)" % signum)


class HeldMemory:
    """Free page reporting off (and memory backed) inside the block."""

    def __init__(self, py, log):
        self.py, self.log, self.old = py, log, None

    def __enter__(self):
        old = check()
        try:
            with open(KNOB, "w") as f:
                f.write(OFF)
        except OSError as e:
            raise SystemExit("bench-scale: --hold-memory: this kernel does "
                             "not take order %s in %s (%s)" % (OFF, KNOB, e))
        self.old = old
        # SIGTERM (a timeout) ends the run through __exit__ too.
        self.term = signal.signal(signal.SIGTERM, _terminate)
        # __exit__ runs only once __enter__ has returned: a failure or
        # Ctrl-C while touching memory puts the order back here.
        try:
            mib = available_mib() * 3 // 4
            self.log("--hold-memory: free page reporting off (order %s -> "
                     "%s); touching %d MiB once" % (old, OFF, mib))
            touch_seconds(self.py, mib)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc):
        signal.signal(signal.SIGTERM, self.term)
        with open(KNOB, "w") as f:
            f.write(self.old)
        self.log("--hold-memory: free page reporting order back to %s" %
                 self.old)
        return False
