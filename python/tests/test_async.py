"""varstore.AsyncSaver: saves that snapshot the tensors and return, the
library writing in the background; errors raised once, by wait, the next
save or close."""
import os
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

import varstore

from conftest import same_bits


def model(seed=0):
    rng = np.random.default_rng(seed)
    return {"dense/kernel": rng.standard_normal((512, 300)).astype(np.float32),
            "dense/bias": rng.standard_normal(300).astype(np.float64),
            "step": np.int64(7),
            "mask": rng.integers(0, 2, 50).astype(bool),
            "empty": np.zeros((0, 3), np.float32)}


def content(path):
    """What a save writes but its time: tensor rows and chunk bytes."""
    with sqlite3.connect(path) as c:
        return c.execute(
            "SELECT t.step, t.name, t.dtype, t.shape, t.codec, t.raw_bytes, "
            "t.stored_bytes, t.crc32, tc.seq, c.data FROM tensors t "
            "JOIN tensor_chunks tc ON tc.tensor_id = t.id "
            "JOIN chunks c ON c.id = tc.chunk_id "
            "ORDER BY t.step, t.name, tc.seq").fetchall()


def test_async_save_writes_what_a_blocking_save_writes(tmp_path):
    m = model()
    a, b = str(tmp_path / "a.db"), str(tmp_path / "b.db")
    varstore.save(a, m, step=3)
    with varstore.AsyncSaver() as saver:
        assert saver.save(b, m, step=3) == 3
        saver.wait()
    assert content(a) == content(b)
    assert len(content(a)) > 0
    loaded = varstore.load(b, step=3)
    for k, v in m.items():
        assert same_bits(loaded[k], v)


def test_async_save_holds_the_values_as_of_the_call(db):
    m = model()
    want = {k: np.array(v, copy=True) for k, v in m.items()}
    saver = varstore.AsyncSaver()
    saver.save(db, m, step=1)
    for v in m.values():
        if isinstance(v, np.ndarray) and v.size:
            v[...] = 0  # overwritten in place right after the call
    del m
    saver.close()
    loaded = varstore.load(db, step=1)
    for k, v in want.items():
        assert same_bits(loaded[k], v)


def test_async_save_snapshots_torch_tensors(db):
    torch = pytest.importorskip("torch")
    w = torch.arange(100000, dtype=torch.float32).reshape(1000, 100)
    h = torch.ones(10, dtype=torch.bfloat16)
    with varstore.AsyncSaver() as saver:
        saver.save(db, {"w": w, "h": h}, step=0)
        w.mul_(-1)
        h.zero_()
    loaded = varstore.load(db, framework="torch")
    assert torch.equal(loaded["w"],
                       torch.arange(100000, dtype=torch.float32)
                       .reshape(1000, 100))
    assert torch.equal(loaded["h"], torch.ones(10, dtype=torch.bfloat16))


def test_two_async_saves_back_to_back_both_land(db):
    x = np.arange(300000, dtype=np.float32)
    with varstore.AsyncSaver() as saver:
        saver.save(db, {"x": x}, step=1)
        x += 1
        saver.save(db, {"x": x}, step=2)
        x += 1
        assert saver.save(db, {"x": x}) == 3  # step None: after step 2
    with varstore.File(db) as f:
        assert [c.step for c in f.checkpoints] == [1, 2, 3]
    for s in (1, 2, 3):
        got = varstore.load(db, step=s)["x"]
        assert same_bits(got, np.arange(300000, dtype=np.float32) + s - 1)


def test_argument_errors_raise_at_once_and_start_nothing(db):
    with varstore.AsyncSaver() as saver:
        with pytest.raises(varstore.InvalidArgumentError, match="step"):
            saver.save(db, {"x": np.ones(2)}, step=-1)
        with pytest.raises(varstore.InvalidArgumentError, match="codec"):
            saver.save(db, {"x": np.ones(2)}, step=1, codec="lz4")
        with pytest.raises(varstore.InvalidArgumentError,
                           match="checkpoint key is NULL or empty"):
            saver.save(db, {"": np.ones(2)}, step=1)
        # beyond the C types: named, not an OverflowError
        with pytest.raises(varstore.InvalidArgumentError,
                           match=r"step must be <= 9223372036854775807"):
            saver.save(db, {"x": np.ones(2)}, step=1 << 63, copy=False)
        for arg in ("threads", "level", "max_to_keep"):
            with pytest.raises(varstore.InvalidArgumentError,
                               match=f"{arg} must be <= 2147483647"):
                saver.save(db, {"x": np.ones(2)}, step=1, **{arg: 1 << 40})
        saver.wait()  # nothing to report
    assert not os.path.exists(db)


def test_background_error_is_raised_by_wait_once(tmp_path):
    d = str(tmp_path / "dir.db")
    os.mkdir(d)  # a directory: the save can only fail once it opens it
    with pytest.raises(varstore.Error) as sync:
        varstore.save(d, {"x": np.ones(3)}, step=1)
    saver = varstore.AsyncSaver()
    saver.save(d, {"x": np.ones(3)}, step=1)
    with pytest.raises(type(sync.value)) as bg:
        saver.wait()
    assert str(bg.value) == str(sync.value)
    saver.wait()  # raised once
    saver.close()


def test_background_error_is_raised_by_the_next_save(tmp_path):
    d, ok = str(tmp_path / "dir.db"), str(tmp_path / "ok.db")
    os.mkdir(d)
    with varstore.AsyncSaver() as saver:
        saver.save(d, {"x": np.ones(3)}, step=1)
        with pytest.raises(varstore.Error):
            saver.save(ok, {"x": np.ones(3)}, step=1)
        saver.wait()
        assert not os.path.exists(ok)  # the second save never started
        saver.save(ok, {"x": np.ones(3)}, step=1)
    assert same_bits(varstore.load(ok)["x"], np.ones(3))


def test_background_error_is_raised_by_close_and_by_with(tmp_path):
    d = str(tmp_path / "dir.db")
    os.mkdir(d)
    saver = varstore.AsyncSaver()
    saver.save(d, {"x": np.ones(3)}, step=1)
    with pytest.raises(varstore.Error):
        saver.close()
    assert saver.closed
    saver.close()  # twice is fine
    with pytest.raises(varstore.InvalidArgumentError, match="closed"):
        saver.wait()
    with pytest.raises(varstore.Error):
        with varstore.AsyncSaver() as s2:
            s2.save(d, {"x": np.ones(3)}, step=1)


def test_progress_runs_on_the_library_thread_and_its_error_is_raised(db):
    x = np.zeros(1 << 21, np.float32)  # 8 MiB
    calls, threads = [], set()

    def progress(done, total):
        calls.append((done, total))
        threads.add(threading.get_ident())

    with varstore.AsyncSaver() as saver:
        saver.save(db, {"x": x}, step=0, progress=progress)
    assert calls[-1] == (x.nbytes, x.nbytes)
    assert threading.get_ident() not in threads

    def bad(done, total):
        raise RuntimeError("stop")

    saver = varstore.AsyncSaver()
    saver.save(db, {"x": x}, step=1, progress=bad)
    with pytest.raises(RuntimeError, match="stop"):
        saver.wait()
    saver.close()
    with varstore.File(db) as f:  # committed: the callback runs after
        assert [c.step for c in f.checkpoints] == [0, 1]


def test_wait_releases_the_gil(db):
    # The save waits for a lock that only another Python thread releases:
    # wait() returns only if it let that thread run.
    varstore.save(db, {"x": np.ones(3)}, step=0)
    lock = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    lock.execute("BEGIN IMMEDIATE")
    saver = varstore.AsyncSaver()
    saver.save(db, {"x": np.full(3, 2.0)}, step=1)

    def release():
        time.sleep(0.3)
        lock.execute("ROLLBACK")

    t = threading.Thread(target=release)
    t.start()
    saver.wait()
    t.join()
    lock.close()
    saver.close()
    assert same_bits(varstore.load(db, step=1)["x"], np.full(3, 2.0))


def test_nocopy_save_writes_what_a_blocking_save_writes(tmp_path):
    m = model()
    a, b = str(tmp_path / "a.db"), str(tmp_path / "b.db")
    varstore.save(a, m, step=3)
    with varstore.AsyncSaver() as saver:
        assert saver.save(b, m, step=3, copy=False) == 3
    assert content(a) == content(b)


def test_nocopy_save_holds_the_arrays_until_the_save_is_reported(db):
    kernel = np.arange(200000, dtype=np.float32)
    refs = sys.getrefcount(kernel)
    saver = varstore.AsyncSaver()
    saver.save(db, {"kernel": kernel}, step=1)
    assert sys.getrefcount(kernel) == refs  # copied: nothing held
    saver.save(db, {"kernel": kernel}, step=2, copy=False)
    assert sys.getrefcount(kernel) > refs  # lent: held by the saver
    with pytest.raises(ValueError):
        kernel.resize(10)  # NumPy sees the reference
    saver.wait()
    assert sys.getrefcount(kernel) == refs  # released once reported
    saver.close()
    assert same_bits(varstore.load(db, step=2)["kernel"],
                     np.arange(200000, dtype=np.float32))
    kernel.resize(10)


def test_nocopy_save_reports_background_errors_and_releases(tmp_path):
    os.mkdir(tmp_path / "dir.db")
    kernel = np.ones(1000, np.float32)
    refs = sys.getrefcount(kernel)
    saver = varstore.AsyncSaver()
    saver.save(str(tmp_path / "dir.db"), {"kernel": kernel}, step=1,
               copy=False)
    with pytest.raises(varstore.Error):
        saver.wait()
    assert sys.getrefcount(kernel) == refs  # released with the error
    saver.close()


# Run in a child: before the saver refused them, these calls let go of
# the borrowed array while the save still read it (a crash).
CALLING_BACK = textwrap.dedent("""
    import gc, sys
    import numpy as np
    import varstore
    path = sys.argv[1]
    saver = varstore.AsyncSaver()
    seen = []
    def progress(done, total):
        if seen:
            return
        for call in (saver.wait,
                     lambda: saver.save(path, {"y": np.ones(3)}, step=2),
                     saver.close):
            try:
                call()
                seen.append("returned")
            except RuntimeError as e:
                seen.append(str(e))
    want = np.arange(2 << 20, dtype=np.float64)
    saver.save(path, {"k": want.copy()}, step=1, progress=progress,
               copy=False)  # the saver holds the only reference
    gc.collect()
    junk = [np.full(1 << 17, 7.0) for _ in range(64)]
    saver.wait()
    saver.close()
    print("\\n".join(seen))
    print(bool((varstore.load(path, step=1)["k"] == want).all()))
""")


def test_nocopy_progress_callback_cannot_use_its_own_saver(tmp_path):
    """wait, save and close from the save's own progress callback raise
    and change nothing: the save goes on with the array it borrowed, and
    the caller's wait reports it."""
    path = str(tmp_path / "cb.db")
    r = subprocess.run([sys.executable, "-c", CALLING_BACK, path],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    refused = ("the AsyncSaver cannot be used from its own save's "
               "progress callback")
    assert r.stdout.splitlines() == [refused] * 3 + ["True"]
    with sqlite3.connect(path) as c:
        assert c.execute("SELECT step FROM checkpoints").fetchall() == [(1,)]


# Run in a child: reporting the error freed the saver twice (a crash).
DROPPED = textwrap.dedent("""
    import sys
    import numpy as np
    import varstore
    for _ in range(30):
        saver = varstore.AsyncSaver()
        saver.save(sys.argv[1], {"k": np.ones(1000)}, step=1)
        del saver  # never closed: its failure is nobody's to raise
        junk = [object() for _ in range(1000)]  # reuses what was freed
    print("done")
""")


def test_an_unclosed_saver_gives_its_error_to_the_unraisable_hook(tmp_path):
    os.mkdir(tmp_path / "dir.db")
    r = subprocess.run([sys.executable, "-c", DROPPED,
                        str(tmp_path / "dir.db")],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "done\n"
    assert r.stderr.count("InvalidArgumentError: ") == 30, r.stderr
    assert "not a varstore checkpoint file" in r.stderr


# Run in a child: the saver was freed under its running save (a crash).
DROPPED_BY_ITS_CALLBACK = textwrap.dedent("""
    import sys, time
    import numpy as np
    import varstore
    seen = []
    sys.unraisablehook = lambda u: seen.append(str(u.exc_value))
    saver = varstore.AsyncSaver()
    def progress(done, total):
        global saver
        saver = None  # the last reference, on the saver's own thread
    want = np.arange(2 << 20, dtype=np.float64)
    saver.save(sys.argv[1], {"k": want.copy()}, step=1, progress=progress,
               copy=False)
    junk = [np.full(1 << 17, 7.0) for _ in range(64)]
    got = None
    while got is None:  # the save goes on: it lands
        try:
            got = varstore.load(sys.argv[1], step=1)["k"]
        except varstore.Error:
            time.sleep(0.05)
    time.sleep(0.5)  # its thread ends
    print(seen[0])
    print(bool((got == want).all()))
""")


def test_a_saver_dropped_by_its_own_progress_callback_is_kept(tmp_path):
    r = subprocess.run([sys.executable, "-c", DROPPED_BY_ITS_CALLBACK,
                        str(tmp_path / "cb.db")],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [
        "an AsyncSaver dropped by its own save's progress callback is "
        "kept, never closed", "True"]


@pytest.mark.parametrize("copy", [True, False], ids=["copy", "nocopy"])
def test_save_in_flight_with_progress_lands_when_the_script_just_ends(
        tmp_path, copy):
    # No close(): the saver is collected as the interpreter ends, after
    # which the library's thread could no longer run the progress callable
    # (Python ends a thread that takes the GIL then). The save must land
    # all the same, and the process exit cleanly.
    import subprocess
    db = str(tmp_path / "exit.db")
    script = (
        "import numpy as np, varstore\n"
        "saver = varstore.AsyncSaver()\n"
        "x = np.arange(8_000_000, dtype=np.float64)\n"
        f"saver.save({db!r}, {{'x': x}}, step=1, copy={copy},\n"
        "           progress=lambda done, total: None)\n")
    env = dict(os.environ)
    where = os.path.dirname(os.path.dirname(os.path.abspath(
        varstore.__file__)))
    env["PYTHONPATH"] = os.pathsep.join(
        [where] + [p for p in [env.get("PYTHONPATH")] if p])
    p = subprocess.run([sys.executable, "-c", script], capture_output=True,
                       text=True, timeout=120, env=env)
    assert p.returncode == 0, p.stderr
    assert p.stderr == ""
    with varstore.File(db) as f:
        assert [c.step for c in f.checkpoints] == [1]
    assert same_bits(varstore.load(db, step=1)["x"],
                     np.arange(8_000_000, dtype=np.float64))
