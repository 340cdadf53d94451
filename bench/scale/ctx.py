"""What every row of the scale bench uses: the programs, the paths, what
is available, the result table and the PASS/MISS rule."""
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def fmt_s(x):
    if x is None:
        return "n/a"
    # Below a millisecond, "0.000 s" would hide the figure.
    return "%.3f s" % x if x >= 0.001 else "%.0f us" % (x * 1e6)


def fmt_mib(b):
    return "%.0f MiB" % (b / 2 ** 20)


def ratio(a, b):
    return None if a is None or not b else a / b


class Ctx:
    def __init__(self, args, models):
        self.args, self.models = args, models
        self.reps = args.reps
        self.data, self.work = args.data, args.work
        self.py = args.python
        self.cli = os.path.join(args.build, "tools", "varstore")
        self.env = dict(os.environ)
        pyroot = os.path.join(args.build, "python")
        self.env["PYTHONPATH"] = pyroot + (
            os.pathsep + self.env["PYTHONPATH"]
            if self.env.get("PYTHONPATH") else "")
        self.table = []
        self.have = {m: self._importable(m) for m in
                     ("torch", "safetensors", "varstore", "orbax.checkpoint")}
        self.have["cli"] = os.access(self.cli, os.X_OK)
        self.have["async"] = os.access(self.prog("scale_async"), os.X_OK)

    def _importable(self, mod):
        r = subprocess.run([self.py, "-c", "import " + mod], env=self.env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if r.returncode != 0:
            last = r.stderr.decode(errors="replace").strip().splitlines()
            self.log("%s is not importable (%s)" % (
                mod, last[-1] if last else "exit %d" % r.returncode))
        return r.returncode == 0

    def prog(self, name):
        return os.path.join(self.args.build, "bench", "scale", name)

    def peer(self, *a):
        return [self.py, os.path.join(HERE, "peer_ops.py")] + list(a)

    def src(self, model):
        return os.path.join(self.data, model + ".safetensors")

    def tree(self, model):
        return os.path.join(self.data, model)

    def path(self, name):
        return os.path.join(self.work, name)

    def desc(self, model):
        return self.models[model]["desc"]

    @staticmethod
    def log(msg):
        print("bench-scale: " + msg, file=sys.stderr, flush=True)

    def add(self, row, case, vs, peers="", rat="", target="", result=""):
        """One line of the table; result is PASS, MISS, "" or a note."""
        self.table.append((row, case, vs, peers, rat, target, result))
        self.log("%s | %s | %s | %s | %s | %s | %s" % self.table[-1])


def verdict(value, limit):
    """PASS when value <= limit; "" when there is no target or value."""
    if value is None or limit is None:
        return ""
    return "PASS" if value <= limit else "MISS"
