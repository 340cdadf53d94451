"""PyTorch: tensors of every dtype in and out, state dicts of a model and
an optimizer bit-exact through varstore.torch."""
import warnings

import numpy as np
import pytest

import varstore

try:
    import torch
except ImportError:
    pytest.skip("torch is not importable", allow_module_level=True)
import varstore.torch as vst  # noqa: E402

TORCH_DTYPES = [torch.float32, torch.float64, torch.float16, torch.bfloat16,
                torch.int8, torch.uint8, torch.int32, torch.int64, torch.bool]


def sample(dtype, shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    if dtype == torch.bool:
        return torch.randint(0, 2, shape, generator=g).bool()
    if not dtype.is_floating_point:
        info = torch.iinfo(dtype)
        return torch.randint(info.min, info.max, shape, generator=g,
                             dtype=torch.int64).to(dtype)
    x = torch.randn(shape, generator=g).to(dtype)
    if x.numel() >= 3:
        x.view(-1)[:3] = torch.tensor([float("nan"), -0.0, float("inf")])
    return x


def bits(t):
    """The tensor's bytes (as uint8) and its dtype and shape."""
    t = t.contiguous()
    raw = t.reshape(-1).view(torch.uint8).numpy().tobytes()
    return t.dtype, tuple(t.shape), raw


@pytest.mark.parametrize("dtype", TORCH_DTYPES, ids=str)
def test_every_torch_dtype_round_trips_bit_exact(db, dtype):
    tensors = {"x": sample(dtype, (4, 3, 5)), "scalar": sample(dtype, ()),
               "empty": sample(dtype, (2, 0)),
               "transposed": sample(dtype, (6, 7)).t(),
               "sliced": sample(dtype, (8, 9))[1::2, ::3]}
    assert not tensors["transposed"].is_contiguous()
    varstore.save(db, tensors, step=3)
    out = varstore.load(db, framework="torch")
    for name, t in tensors.items():
        assert isinstance(out[name], torch.Tensor)
        assert bits(out[name]) == bits(t), name
    info = {r.name: r for r in varstore.File(db).tensors()}
    assert info["x"].dtype == str(dtype).replace("torch.", "")


def test_torch_tensors_load_as_numpy_with_same_bits(db):
    t = sample(torch.float16, (10, 10))
    varstore.save(db, {"h": t, "g": sample(torch.int64, (3,))})
    out = varstore.load(db)
    assert out["h"].dtype == np.float16
    assert out["h"].tobytes() == t.numpy().tobytes()


def test_tensors_requiring_grad_are_saved(db):
    w = torch.nn.Parameter(torch.randn(3, 3))
    varstore.save(db, {"w": w}, step=0)
    assert torch.equal(varstore.load(db, framework="torch")["w"], w.detach())


def test_sparse_tensors_are_refused_cleanly(db):
    s = torch.eye(3).to_sparse()
    with pytest.raises(varstore.InvalidArgumentError, match="to_dense"):
        varstore.save(db, {"s": s}, step=0)


def test_meta_and_nested_tensors_are_refused_naming_the_tensor(db):
    with pytest.raises(varstore.InvalidArgumentError,
                       match="tensor m: .*meta device"):
        varstore.save(db, {"m": torch.empty(3, device="meta")}, step=0)
    with warnings.catch_warnings():  # nested tensors are a prototype
        warnings.simplefilter("ignore")
        nested = torch.nested.nested_tensor([torch.ones(2), torch.ones(3)])
    with pytest.raises(varstore.InvalidArgumentError,
                       match="tensor n: nested"):
        varstore.save(db, {"n": nested}, step=0)
    import os
    assert not os.path.exists(db)


def test_empty_tensor_with_huge_dimensions_round_trips(db):
    shape = (0, 2**31, 2**31)  # NumPy refuses it: "array is too big"
    varstore.save(db, {"e": torch.empty(shape)}, step=0)
    assert varstore.File(db).tensors()[0].shape == shape
    out = varstore.load(db, framework="torch")["e"]
    assert out.shape == shape and out.dtype == torch.float32
    with pytest.raises(varstore.OutOfMemoryError,
                       match=r"tensor e: .*shape \[0, 2147483648"):
        varstore.load(db)


def small_model():
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3), torch.nn.BatchNorm2d(8), torch.nn.ReLU(),
        torch.nn.Flatten(), torch.nn.Linear(8 * 6 * 6, 10))


def assert_same_state(a, b):
    assert type(a) is type(b) or (isinstance(a, dict) and isinstance(b, dict))
    if isinstance(a, torch.Tensor):
        assert bits(a) == bits(b)
    elif isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            assert_same_state(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert type(a) is type(b) and len(a) == len(b)
        for x, y in zip(a, b):
            assert_same_state(x, y)
    else:
        assert a == b or (a != a and b != b)


def train_step(model, opt):
    x = torch.randn(4, 3, 8, 8)
    loss = model(x).square().mean()
    opt.zero_grad()
    loss.backward()
    opt.step()


@pytest.mark.parametrize("make_opt", [
    lambda p: torch.optim.Adam(p, lr=1e-3, betas=(0.8, 0.99)),
    lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True),
    lambda p: torch.optim.AdamW(p, amsgrad=True)], ids=["adam", "sgd", "adamw"])
def test_model_and_optimizer_state_dicts_round_trip_bit_exact(db, make_opt):
    model = small_model()
    opt = make_opt(model.parameters())
    for _ in range(2):
        train_step(model, opt)
    vst.save_state_dict(db, model.state_dict(), step=1)
    vst.save_state_dict(db, opt.state_dict(), step=2)

    # the model's own keys are the checkpoint keys
    names = [r.name for r in varstore.File(db).tensors(1)]
    assert names == sorted(model.state_dict())

    model2 = small_model()
    for p in model2.parameters():
        p.data.zero_()
    model2.load_state_dict(vst.load_state_dict(db, step=1))
    assert_same_state(model2.state_dict(), model.state_dict())
    opt2 = make_opt(model2.parameters())
    loaded = vst.load_state_dict(db, step=2)
    assert_same_state(loaded, opt.state_dict())
    opt2.load_state_dict(loaded)
    assert_same_state(opt2.state_dict(), opt.state_dict())

    # training on from the restored state gives the very same weights
    torch.manual_seed(1)
    train_step(model, opt)
    torch.manual_seed(1)
    train_step(model2, opt2)
    assert_same_state(model2.state_dict(), model.state_dict())


def test_nested_state_dict_keys_and_types_survive(db):
    state = {"state": {0: {"step": torch.tensor(3.0),
                           "buf": torch.arange(4)}},
             "param_groups": [{"lr": 0.5, "betas": (0.9, 0.99),
                               "params": [0], "name": None,
                               "flag": True, "eps": float("inf")}],
             "extra": [torch.ones(2, dtype=torch.bfloat16), "text"]}
    vst.save_state_dict(db, state, step=0)
    names = [r.name for r in varstore.File(db).tensors()]
    assert names == sorted(["state/0/step", "state/0/buf", "extra/0",
                            vst.STRUCTURE_KEY])
    assert_same_state(vst.load_state_dict(db), state)


def test_state_dict_whose_tensors_were_renamed_names_the_missing_key(db):
    state = {"state": {0: {"step": torch.tensor(3.0)}}, "lr": 0.5}
    vst.save_state_dict(db, state, step=0)
    varstore.File(db).rename("state/", "opt/")
    with pytest.raises(varstore.NotFoundError,
                       match="Key state/0/step not found in checkpoint"):
        vst.load_state_dict(db)


@pytest.mark.parametrize("doc", [b"\xff\xfe", b"{not json"],
                         ids=["not_utf8", "not_json"])
def test_structure_that_is_not_json_is_invalid_argument_error(db, doc):
    varstore.save(db, {vst.STRUCTURE_KEY: np.frombuffer(doc, np.uint8)},
                  step=0)
    with pytest.raises(varstore.InvalidArgumentError, match="not JSON"):
        vst.load_state_dict(db)


def test_state_dict_values_that_cannot_be_stored_are_refused(db):
    with pytest.raises(varstore.InvalidArgumentError, match="set"):
        vst.save_state_dict(db, {"a": torch.ones(1), "b": {1, 2}}, step=0)
    with pytest.raises(varstore.InvalidArgumentError, match="key"):
        vst.save_state_dict(db, {(1, 2): torch.ones(1)}, step=0)
    with pytest.raises(varstore.InvalidArgumentError, match="two tensors"):
        vst.save_state_dict(db, {"a": {"b": torch.ones(1)},
                                 "a/b": torch.ones(1), "x": 1}, step=0)
