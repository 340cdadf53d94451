"""Child processes and files for the scale bench: every timed operation
runs in a fresh process of its own; this module starts it, collects its
JSON line, its wall time and its peak RSS (ru_maxrss through os.wait4),
and makes files cold. Any failure of a child is a BenchError (the bench
exits non-zero)."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time


class BenchError(Exception):
    """A real error: a crashed or failed program, a load not bit-exact."""


class Child:
    """A finished child: its JSON result, wall seconds, peak RSS bytes."""

    def __init__(self, result, wall_s, maxrss):
        self.result, self.wall_s, self.maxrss = result, wall_s, maxrss


def _parse_json(out, cmd):
    lines = [ln for ln in out.splitlines() if ln.startswith("{")]
    if not lines:
        return None
    try:
        return json.loads(lines[-1])
    except ValueError as e:
        raise BenchError("%s printed bad JSON: %s" % (cmd[0], e))


# ru_maxrss of a child started straight from this (large) process counts
# the pages it had before its exec: Linux keeps the larger of the old and
# the new image's peak. So a peak that matters is measured by a small
# Python process that starts the command and reports, as the last line of
# its stderr, the command's own ru_maxrss (KiB) and wall seconds (from
# its fork to its end, so that the wrapper's own start-up is not timed).
_RSS_WRAPPER = (
    "import os, sys, time\n"
    "t0 = time.perf_counter()\n"
    "pid = os.fork()\n"
    "if pid == 0:\n"
    "    os.execvp(sys.argv[1], sys.argv[1:])\n"
    "_, st, ru = os.wait4(pid, 0)\n"
    "t1 = time.perf_counter()\n"
    "sys.stderr.write('\\nvs-bench-child %d %.6f\\n' % (ru.ru_maxrss, "
    "t1 - t0))\n"
    "sys.exit(os.waitstatus_to_exitcode(st) & 255)\n")


def _wrapped(msg):
    """The command's own (peak bytes, wall seconds) from the wrapper's
    last line, or (None, None)."""
    for line in reversed(msg.splitlines()):
        if line.startswith("vs-bench-child "):
            kib, secs = line.split()[1:3]
            return int(kib) * 1024, float(secs)
    return None, None


def run(cmd, env=None, want_json=True, own_rss=False):
    """Runs cmd to its end; returns a Child. Raises BenchError on a
    non-zero exit, a signal, or a missing JSON result. own_rss: the peak
    RSS and the wall time are the command's own (see _RSS_WRAPPER), the
    peak not inflated by this process's."""
    if own_rss:
        cmd = [sys.executable, "-c", _RSS_WRAPPER] + list(cmd)
    with tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err,
                             env=env)
        out = p.stdout.read()
        p.stdout.close()
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        msg = err.read().decode(errors="replace").strip()
    if p.returncode != 0:
        how = ("killed by signal %d" % -p.returncode if p.returncode < 0
               else "exit %d" % p.returncode)
        raise BenchError("%s: %s: %s" % (" ".join(cmd), how, msg[-800:]))
    res = _parse_json(out.decode(errors="replace"), cmd)
    if want_json and res is None:
        raise BenchError("%s printed no result (stderr: %s)" %
                         (" ".join(cmd), msg[-400:]))
    rss, secs = _wrapped(msg) if own_rss else (None, None)
    return Child(res, secs if secs is not None else wall,
                 rss if rss is not None else ru.ru_maxrss * 1024)


class Background:
    """A child running beside a timed operation (a reader). start() waits
    for its "ready" line; stop() sends SIGTERM and returns its JSON."""

    def __init__(self, cmd, env=None):
        self.cmd = cmd
        self.err = tempfile.TemporaryFile()
        self.p = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                                  stderr=self.err, env=env, text=True)
        line = self.p.stdout.readline()
        if line.strip() != "ready":
            self.p.kill()
            self.p.wait()
            self.err.seek(0)
            raise BenchError("%s did not start: %s" % (
                " ".join(cmd), self.err.read().decode(errors="replace")[-800:]))

    def stop(self):
        self.p.terminate()
        try:
            out, _ = self.p.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
            raise BenchError("%s did not stop" % " ".join(self.cmd))
        self.err.seek(0)
        msg = self.err.read().decode(errors="replace").strip()
        self.err.close()
        if self.p.returncode != 0:
            raise BenchError("%s: exit %d: %s" % (
                " ".join(self.cmd), self.p.returncode, msg[-800:]))
        res = _parse_json(out, self.cmd)
        if res is None:
            raise BenchError("%s printed no result" % " ".join(self.cmd))
        return res


def side_files(p):
    return [q for q in (p, p + "-wal", p + "-shm") if os.path.exists(q)]


def make_cold(p):
    """Drops the page cache of p (and a varstore file's -wal/-shm) after
    making it durable: fdatasync, then posix_fadvise(DONTNEED), which
    works unprivileged. A folder: every file in it."""
    if os.path.isdir(p):
        files = [os.path.join(d, f) for d, _, fs in os.walk(p) for f in fs]
    else:
        files = side_files(p)
    for q in files:
        fd = os.open(q, os.O_RDONLY)
        try:
            os.fdatasync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def disk_bytes(p):
    return sum(os.path.getsize(q) for q in side_files(p))


def rm(p):
    if os.path.isdir(p):
        shutil.rmtree(p)
        return
    for q in side_files(p):
        os.unlink(q)


def median(xs):
    s = sorted(xs)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def check_manifest(got, want, what):
    """Raises BenchError unless a load's manifest equals the model's."""
    if got != want:
        diff = sorted(k for k in set(got) | set(want)
                      if got.get(k) != want.get(k))
        raise BenchError("%s is not bit-exact: %d tensors differ (first: %s)"
                         % (what, len(diff), diff[:3]))
