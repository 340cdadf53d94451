"""progress callbacks: (done, total) in bytes, on the calling thread,
ending with done == total; their exceptions reach the caller."""
import threading

import numpy as np
import pytest

import varstore


def big_model():
    rng = np.random.default_rng(2)
    return {f"w{i}": rng.standard_normal(1 << 19).astype(np.float32)
            for i in range(6)}  # 6 x 2 MiB


def test_save_progress_counts_raw_bytes_on_the_calling_thread(db):
    model = big_model()
    calls, threads = [], set()

    def progress(done, total):
        calls.append((done, total))
        threads.add(threading.get_ident())

    varstore.save(db, model, step=0, progress=progress)
    total = sum(x.nbytes for x in model.values())
    assert calls[-1] == (total, total)
    assert len(calls) >= 6
    dones = [d for d, _ in calls]
    assert dones == sorted(dones)
    assert all(t == total for _, t in calls)
    assert threads == {threading.get_ident()}


def test_progress_works_like_tqdm(db):
    class Bar:  # what tqdm's update/total/n do
        def __init__(self):
            self.n, self.total = 0, None

        def update(self, k):
            assert k >= 0
            self.n += k

    bar = Bar()

    def progress(done, total):
        bar.total = total
        bar.update(done - bar.n)

    model = big_model()
    varstore.save(db, model, step=0, progress=progress)
    assert bar.n == bar.total == sum(x.nbytes for x in model.values())


def test_exception_in_progress_is_raised_after_the_save(db):
    calls = []

    def progress(done, total):
        calls.append(done)
        raise RuntimeError("stop here")

    with pytest.raises(RuntimeError, match="stop here"):
        varstore.save(db, big_model(), step=0, progress=progress)
    assert len(calls) == 1  # not called again after it raised
    assert varstore.File(db).steps == [0]  # the save itself committed


def test_verify_progress_exception_is_raised(db):
    varstore.save(db, big_model(), step=0)

    def progress(done, total):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        varstore.File(db).verify(progress=progress)


def test_load_progress_after_each_tensor_on_the_calling_thread(db):
    model = big_model()
    varstore.save(db, model, step=0)
    calls, threads = [], set()

    def progress(done, total):
        calls.append((done, total))
        threads.add(threading.get_ident())

    out = varstore.load(db, names=["w1", "w0", "w2"], progress=progress)
    mib2 = model["w0"].nbytes
    assert calls == [(mib2, 3 * mib2), (2 * mib2, 3 * mib2),
                     (3 * mib2, 3 * mib2)]
    assert threads == {threading.get_ident()}
    assert all((out[k] == model[k]).all() for k in out)


def test_exception_in_load_progress_stops_the_load(db):
    varstore.save(db, big_model(), step=0)
    calls = []

    def progress(done, total):
        calls.append(done)
        raise RuntimeError("enough")

    with pytest.raises(RuntimeError, match="enough"):
        varstore.load(db, progress=progress)
    assert len(calls) == 1
    with pytest.raises(varstore.InvalidArgumentError):
        varstore.load(db, progress="bar")
