"""The scale bench's harness on a tiny model: the model files agree with
their manifest, the C programs' checksums agree with Python's, a changed
tensor or a failed program is an error, retention and the reader work,
every process reports its peak RSS. Run by CTest (bench_scale_harness)
with SCALE_BIN_DIR set to the folder of scale_save, scale_load and
scale_reader."""
import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import models  # noqa: E402
import rows_file  # noqa: E402
from runner import Background, BenchError, check_manifest, run  # noqa: E402

BIN = os.environ.get("SCALE_BIN_DIR", "")
MIB = 2 ** 20
SHAPES = [("conv1/kernel", (3, 3, 2, 8)), ("conv1/bn/gamma", (8,)),
          ("fc/kernel", (64, 300))]


def prog(name):
    p = os.path.join(BIN, name)
    if not os.access(p, os.X_OK):
        pytest.skip("%s not built (SCALE_BIN_DIR)" % p)
    return p


@pytest.fixture
def model(tmp_path):
    models.write_model(str(tmp_path), "m", SHAPES, 7)
    with open(tmp_path / "m.manifest.json") as f:
        return str(tmp_path / "m.safetensors"), json.load(f)


def test_model_files_agree_with_their_manifest(model, tmp_path):
    st = pytest.importorskip("safetensors.numpy")
    src, want = model
    got = st.load_file(src)
    assert sorted(got) == sorted(n for n, _ in SHAPES)
    for name, shape in SHAPES:
        a = np.load(tmp_path / "m" / (name + ".npy"))
        assert a.dtype == np.float32 and a.shape == shape
        assert a.tobytes() == got[name].tobytes()
        assert want[name] == [models.crc(a), "float32", list(shape)]
    assert float(np.std(got["fc/kernel"])) > 0.01  # random, not constant


def test_c_save_then_load_matches_the_model_bit_for_bit(model, tmp_path):
    src, want = model
    db = str(tmp_path / "c.db")
    saved = run([prog("scale_save"), src, db, "--step", "3"]).result
    assert saved["n_tensors"] == len(SHAPES) and len(saved["saves"]) == 1
    loaded = run([prog("scale_load"), db]).result
    assert loaded["step"] == 3
    check_manifest(loaded["manifest"], want, "scale_load")
    for out in (saved, loaded):  # a whole process is more than 1 MiB
        assert out["peak_rss"] is None or out["peak_rss"] > MIB


def test_a_changed_tensor_fails_the_bit_exact_check(model, tmp_path):
    src, want = model
    db = str(tmp_path / "p.db")
    run([prog("scale_save"), src, db, "--step", "1", "--perturb"])
    loaded = run([prog("scale_load"), db]).result
    with pytest.raises(BenchError, match="not bit-exact: 3 tensors differ"):
        check_manifest(loaded["manifest"], want, "perturbed")


def test_a_failing_program_is_a_bench_error(tmp_path):
    with pytest.raises(BenchError, match="exit 1.*vs_ckpt_open"):
        run([prog("scale_load"), str(tmp_path / "missing.db")])


def test_max_to_keep_leaves_the_newest_steps(model, tmp_path):
    src, _ = model
    db = str(tmp_path / "r.db")
    out = run([prog("scale_save"), src, db, "--step", "1", "--count", "4",
               "--perturb", "--max-to-keep", "2"]).result
    assert len(out["saves"]) == 4
    assert rows_file.steps_in(db) == [3, 4]


def test_the_poller_reads_while_another_process_saves(model, tmp_path):
    src, _ = model
    db = str(tmp_path / "q.db")
    run([prog("scale_save"), src, db, "--step", "1"])
    bg = Background([prog("scale_reader"), db, "poll"])
    run([prog("scale_save"), src, db, "--step", "2", "--perturb"])
    time.sleep(0.1)
    seen = bg.stop()
    assert seen["loops"] >= 1 and seen["errors"] == 0
    assert 0 < seen["max_s"] < 30


@pytest.fixture
def knob(tmp_path, monkeypatch):
    """A stand-in for the kernel's reporting order, at 9."""
    import memory
    path = tmp_path / "page_reporting_order"
    path.write_text("9\n")
    monkeypatch.setattr(memory, "KNOB", str(path))
    monkeypatch.setattr(memory, "available_mib", lambda: 8)
    return path


def test_hold_memory_turns_reporting_off_and_puts_the_order_back(knob):
    import memory
    logged = []
    with memory.HeldMemory(sys.executable, logged.append):
        assert knob.read_text() == memory.OFF
        assert "held" in memory.describe(sys.executable, True)
    assert knob.read_text() == "9"
    assert len(logged) == 2


def test_hold_memory_without_the_knob_stops_with_a_message(
        tmp_path, monkeypatch):
    import memory
    monkeypatch.setattr(memory, "KNOB", str(tmp_path / "absent"))
    with pytest.raises(SystemExit, match="needs root"):
        with memory.HeldMemory(sys.executable, print):
            pass
    assert "no free page reporting" in memory.describe(sys.executable, False)


def test_hold_memory_puts_the_order_back_when_touching_fails(
        knob, monkeypatch):
    import memory

    def interrupted(py, mib):
        assert knob.read_text() == memory.OFF
        raise KeyboardInterrupt

    monkeypatch.setattr(memory, "touch_seconds", interrupted)
    with pytest.raises(KeyboardInterrupt):
        with memory.HeldMemory(sys.executable, print):
            pass
    assert knob.read_text() == "9"


def test_hold_memory_puts_the_order_back_on_sigterm(knob):
    import signal
    import memory
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(SystemExit, match="terminated"):
        with memory.HeldMemory(sys.executable, print):
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # the handler raises before this ends
    assert knob.read_text() == "9"
    assert signal.getsignal(signal.SIGTERM) == before


def test_own_rss_gives_the_commands_own_peak_and_time():
    code = "import time; b = b'x' * (256 << 20); time.sleep(0.3)"
    c = run([sys.executable, "-c", code], want_json=False, own_rss=True)
    assert 256 * MIB <= c.maxrss < 512 * MIB
    assert 0.3 <= c.wall_s < 30


def test_the_peak_reset_forgets_what_came_before_the_operation():
    code = ("import peer_ops\n"
            "b = b'x' * (300 << 20)\n"
            "del b\n"
            "before = peer_ops.peak_rss(True)\n"
            "print(before, peer_ops.peak_rss(peer_ops.reset_peak()))\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=HERE, check=True,
                         stdout=subprocess.PIPE, text=True).stdout.split()
    if out[1] == "None":
        pytest.skip("this kernel does not reset the peak (clear_refs)")
    assert int(out[0]) >= 300 * MIB > 200 * MIB > int(out[1])


@pytest.mark.parametrize("save,load,suffix", [
    ("torch-save", "torch-load", ".pt"),
    ("st-save", "st-load", ".safetensors")])
def test_the_peers_report_their_peak(model, tmp_path, save, load, suffix):
    pytest.importorskip("torch")
    pytest.importorskip("safetensors")
    src, want = model
    ops = [sys.executable, os.path.join(HERE, "peer_ops.py")]
    out = str(tmp_path / ("p" + suffix))
    saved = run(ops + [save, src, out]).result
    loaded = run(ops + [load, out]).result
    check_manifest(loaded["manifest"], want, load)
    for res in (saved, loaded):
        assert res["seconds"] > 0
        assert res["peak_rss"] is None or res["peak_rss"] > MIB
