"""The scale bench's harness on a tiny model: the model files agree with
their manifest, the C programs' checksums agree with Python's, a changed
tensor or a failed program is an error, retention and the reader work,
every process reports its peak RSS; and the rows built from made-up
results (targets, ratios, the tally). Run by CTest (bench_scale_harness)
with SCALE_BIN_DIR set to the folder of scale_save, scale_load and
scale_reader."""
import json
import os
import subprocess
import sys
import time
from collections import defaultdict

import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import models  # noqa: E402
import rows_file  # noqa: E402
import rows_io  # noqa: E402
import scale  # noqa: E402
from ctx import Ctx  # noqa: E402
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


def kept_bytes(shapes, limit):
    """scale_save --max-bytes's rule (sc_model_limit): the tensors in
    order of name (the safetensors reader's) while their sum stays within
    limit, at least one."""
    kept = 0
    for i, (_, shape) in enumerate(sorted(shapes)):
        b = 4 * int(np.prod(shape))
        if i and kept + b > limit:
            break
        kept += b
    return kept


def test_max_bytes_keeps_the_first_tensors_within_it(model, tmp_path):
    src, _ = model
    # by name: conv1/bn/gamma 32 bytes, conv1/kernel 576, fc/kernel 76800
    for limit, want in ((1, 32), (600, 32), (700, 608), (10 ** 6, 77408)):
        db = str(tmp_path / ("l%d.db" % limit))
        out = run([prog("scale_save"), src, db, "--step", "1",
                   "--max-bytes", str(limit)]).result
        assert out["raw_bytes"] == want == kept_bytes(SHAPES, limit)


def test_the_full_prune_file_is_over_2_gib_and_quick_stays_small():
    per = kept_bytes(models.specs(False)["tf500"][1],
                     rows_file.prune_step_bytes(False))
    # The default codec keeps 0.84-0.85 of these values (8 steps of
    # 268.5 MB made 1729 MiB, bench/RESULTS.md)
    assert 8 * per * 0.83 > 2 ** 31
    quick = kept_bytes(models.specs(True)["tf500"][1],
                       rows_file.prune_step_bytes(True))
    assert 8 * quick < 200 * 10 ** 6


def fake_ctx(tmp_path=None, **have):
    """A Ctx with the scale models' descriptions and no programs run."""
    ctx = Ctx.__new__(Ctx)
    ctx.table = []
    ctx.have = dict({"cli": True, "varstore": True, "torch": True,
                     "safetensors": True}, **have)
    ctx.models = {"resnet": {"desc": "5 MB ResNet", "bytes": 5 * 10 ** 6},
                  "tf2g": {"desc": "2 GB transformer", "bytes": 2 * 10 ** 9},
                  "big": {"desc": "2.25 GiB tensor", "bytes": 9 * 2 ** 28}}
    if tmp_path is not None:
        ctx.prog = prog
        ctx.src = lambda m: str(tmp_path / (m + ".safetensors"))
        ctx.path = lambda name: str(tmp_path / name)
    return ctx


def test_the_saves_into_a_file_holding_steps_time_the_later_ones(
        model, tmp_path):
    ctx = fake_ctx(tmp_path)
    m = defaultdict(list)
    rows_io.append_rep(ctx, "m", m)
    timed = rows_io.APPEND_SAVES - rows_io.APPEND_FILL
    assert timed >= 1 and sorted(m) == ["c_append_default", "c_append_raw"]
    assert all(len(v) == timed and min(v) > 0 for v in m.values())
    assert not os.path.exists(tmp_path / "m-append.db")


def test_save_rows_compare_the_save_into_a_file_with_a_new_torch_file():
    ctx = fake_ctx()
    rows_io.save_rows(ctx, "resnet", {
        "c_save_default": 0.016, "c_append_default": 0.030,
        "c_append_raw": 0.012, "torch_save": 0.011, "st_save": 0.010})
    rows = ctx.table
    assert [r[0] for r in rows] == ["1 save"] * 3
    assert rows[0][6] == "PASS" and "holding" not in rows[0][1]
    app = [r for r in rows if "into a file holding 3-5 steps (saves 4-6 of "
           "6 per repetition" in r[1]]
    assert [r[1].endswith(c) for r, c in zip(app, ("default codec",
                                                   "raw codec"))] == [1, 1]
    assert [r[4] for r in app] == ["2.73x torch, 3.00x st",
                                   "1.09x torch, 1.20x st"]
    assert [r[5] for r in app] == ["<= 2.0x torch.save"] * 2
    assert [r[6] for r in app] == ["MISS", "PASS"]


def test_the_big_tensor_shows_both_peers_and_its_load_target_is_torch():
    assert "st" in rows_io.TOOLS["big"]
    ctx = fake_ctx()
    rows_io.save_rows(ctx, "big", {"c_save_default": 2.66,
                                   "torch_save": 2.0, "st_save": 1.33})
    rows_io.load_rows(ctx, "big", {"c_load_default": 1.2,
                                   "torch_load": 1.5, "st_load": 1.0})
    rows_io.load_rows(ctx, "tf2g", {"c_load_default": 1.2,
                                    "torch_load": 1.5, "st_load": 1.0})
    save, big, tf2g = ctx.table
    assert save[3:] == ("torch.save 2.000 s; safetensors 1.330 s",
                        "1.33x torch, 2.00x st", "", "")
    assert big[3:] == ("torch.load 1.500 s; load_file 1.000 s",
                       "0.80x torch, 1.20x st", "<= 1.0x torch.load", "PASS")
    assert tf2g[5:] == ("<= 1.0x torch.load, <= 1.0x load_file", "MISS")


def test_summarize_takes_the_median_time_and_the_largest_peak():
    got = rows_io.summarize({"c_save_raw": [3.0, 1.0, 2.0],
                             "peak_c_save_raw": [5, 9, 7], "st_save": []})
    assert got == {"c_save_raw": 2.0, "peak_c_save_raw": 9}


def test_peak_rows_list_each_process_peak_without_a_target():
    ctx = fake_ctx()
    rows_io.peak_rows(ctx, "tf2g", {
        "peak_c_save_default": 2100 * MIB, "peak_cli_save_raw": 28 * MIB,
        "peak_torch_save": 1950 * MIB, "peak_st_save": 1960 * MIB,
        "peak_c_load_raw": 1930 * MIB, "peak_st_load": 3850 * MIB,
        "c_save_default": 1.0})
    saves, loads = ctx.table
    assert saves[0] == loads[0] == "3 peak RSS"
    assert saves[1].startswith("2 GB transformer, row 1's saves")
    assert "the 1907 MiB model in memory" in saves[1]
    assert loads[1].startswith("2 GB transformer, row 2's cold loads")
    assert saves[2:4] == ("C default 2100 MiB; CLI raw 28 MiB",
                          "torch.save 1950 MiB; save_file 1960 MiB")
    assert loads[2:4] == ("C raw 1930 MiB", "load_file 3850 MiB")
    assert saves[4:] == loads[4:] == ("", "", "")
    rows_io.peak_rows(ctx, "big", {})
    assert [r[2:4] for r in ctx.table[2:]] == [("n/a", "n/a")] * 2


def test_tally_counts_the_rows_with_a_target_or_a_verdict():
    ctx = fake_ctx(cli=False)
    ctx.add("1 save", "a", "1 s", "", "", "<= 1.0x torch.save", "PASS")
    ctx.add("2 cold load", "b", "1 s", "", "", "<= 1.0x torch.load", "MISS")
    ctx.add("2 cold load", "c", "1 s", "n/a", "", "<= 1.0x torch.load", "")
    ctx.add("6 readers", "d", "1 s", "", "", "", "PASS")
    ctx.add("5 file size", "e", "17 MiB", "", "1.19x", "", "")
    assert scale.tally(ctx.table) == (
        "Targets: 2 PASS, 1 MISS, 1 not measured")
    rows_io.missing_rows(ctx, "resnet")  # the CLI's two saves
    assert ctx.table[-1][2].startswith("skipped")
    assert scale.tally(ctx.table) == (
        "Targets: 2 PASS, 1 MISS, 3 not measured")


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
