import os
import subprocess
import sys

import pytest

import fastembed_core as fe
from fastembed_core import _backend, _parallel

IN_NUMPY_ONLY_RUN = os.environ.get("FASTEMBED_CORE_BACKEND", "").lower() == "numpy"


def run_py(code: str, **env) -> subprocess.CompletedProcess:
    full = dict(os.environ, **env)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=full)


def test_backend_attribute_is_one_of_two():
    assert fe.BACKEND in ("compiled", "numpy")


def test_env_forces_numpy():
    r = run_py("import fastembed_core as f; print(f.BACKEND, f.capabilities()['kernels'])", FASTEMBED_CORE_BACKEND="numpy")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["numpy", "{}"]


def test_env_rejects_unknown_value():
    r = run_py("import fastembed_core", FASTEMBED_CORE_BACKEND="gpu")
    assert r.returncode != 0
    assert "FASTEMBED_CORE_BACKEND" in r.stderr


@pytest.mark.skipif(IN_NUMPY_ONLY_RUN, reason="numpy-only run")
def test_env_compiled_imports_extension():
    r = run_py("import fastembed_core as f; print(f.BACKEND)", FASTEMBED_CORE_BACKEND="compiled")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "compiled"


def test_env_compiled_without_extension_is_import_error():
    # Hide the extension by putting a package shadow without it first on the path.
    code = (
        "import sys, importlib.abc\n"
        "class Block(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path, target=None):\n"
        "        if name == 'fastembed_core._kernels': raise ImportError('hidden for the test')\n"
        "sys.meta_path.insert(0, Block())\n"
        "import fastembed_core\n"
    )
    r = run_py(code, FASTEMBED_CORE_BACKEND="compiled")
    assert r.returncode != 0
    assert "FASTEMBED_CORE_BACKEND=compiled" in r.stderr
    r = run_py(code + "print(fastembed_core.BACKEND)", FASTEMBED_CORE_BACKEND="auto")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "numpy"


def test_capabilities_shape():
    caps = fe.capabilities()
    assert caps["backend"] == fe.BACKEND
    assert caps["threads"] >= 1
    assert isinstance(caps["kernels"], dict)
    # what the build says, not an assumption: _OPENMP at compile time (the kernels use a thread pool)
    assert caps["openmp"] is (fe.BACKEND == "compiled" and _backend.load("compiled").OPENMP)
    assert isinstance(caps["emulated_simd"], bool)


@pytest.mark.skipif(IN_NUMPY_ONLY_RUN, reason="numpy-only run")
def test_cpu_features_match_the_os_view():
    mod = _backend.load("compiled")
    if mod.EMULATED_SIMD:
        pytest.skip("SIMDe emulation build reports every feature as present")
    feats = mod.cpu_features()
    if not os.path.exists("/proc/cpuinfo"):
        pytest.skip("no /proc/cpuinfo")
    flags = set()
    for line in open("/proc/cpuinfo"):
        if line.startswith(("flags", "Features")):
            flags |= set(line.split(":", 1)[1].split())
    if "avx2" in feats:  # x86
        for name in ("avx2", "f16c", "fma", "bmi1", "bmi2", "avx512f", "avx512bw", "avx512vl", "avx512_vnni",
                     "avx512_vpopcntdq", "avx_vnni"):
            key = name.replace("_", "")
            assert feats[key] == (name in flags), name
    if "asimd" in flags:
        assert feats["neon"]


@pytest.mark.skipif(IN_NUMPY_ONLY_RUN, reason="numpy-only run")
def test_scan_prefetch_is_off_only_on_amd_with_avx512():
    mod = _backend.load("compiled")
    if mod.EMULATED_SIMD:
        pytest.skip("SIMDe emulation build reports every feature as present")
    if not os.path.exists("/proc/cpuinfo"):
        pytest.skip("no /proc/cpuinfo")
    amd = any(line.startswith("vendor_id") and "AuthenticAMD" in line for line in open("/proc/cpuinfo"))
    assert mod.scan_prefetch() is not (amd and mod.cpu_features().get("avx512f", False))
    if fe.BACKEND == "compiled":
        assert fe.capabilities()["scan_prefetch"] is mod.scan_prefetch()


@pytest.mark.skipif(IN_NUMPY_ONLY_RUN, reason="numpy-only run")
def test_avx2_variants_need_bmi_because_they_are_compiled_with_it():
    """FE_TARGET_AVX2 allows BMI1/BMI2 instructions: no AVX2 (or AVX-512) variant may be reported as
    supported on a CPU that hides either bit (a VM showing AVX2 without BMI would fault)."""
    mod = _backend.load("compiled")
    feats = mod.cpu_features()
    assert "bmi1" in feats and "bmi2" in feats
    for kernel, info in mod.kernel_variants().items():
        for name, ok in info["variants"].items():
            if ok and name.startswith(("avx2", "avx512", "avx_vnni")):
                assert feats["bmi1"] and feats["bmi2"], (kernel, name)


@pytest.mark.skipif(IN_NUMPY_ONLY_RUN, reason="numpy-only run")
def test_every_kernel_has_an_always_supported_fallback_and_forcing_works():
    mod = _backend.load("compiled")
    for kernel, info in mod.kernel_variants().items():
        names = list(info["variants"])
        assert info["variants"][names[-1]] is True, f"{kernel}: last variant must run everywhere"
        assert info["variants"][info["active"]] is True
        # The best supported variant is the active one by default.
        assert info["active"] == next(n for n in names if info["variants"][n])
        for name, ok in info["variants"].items():
            if ok:
                with _backend.variant(kernel, name):
                    assert mod.kernel_variants()[kernel]["active"] == name
            else:
                with pytest.raises(ValueError, match="lacks"):
                    mod.select_variant(kernel, name)
        assert mod.kernel_variants()[kernel]["active"] == info["active"]


@pytest.mark.skipif(IN_NUMPY_ONLY_RUN, reason="numpy-only run")
def test_select_variant_rejects_unknown_names():
    mod = _backend.load("compiled")
    with pytest.raises(ValueError, match="no kernel"):
        mod.select_variant("no_such_kernel", "scalar")


def test_using_switches_and_restores(backend):
    assert _backend.kernels is backend
    with _backend.using("numpy"):
        assert _backend.BACKEND == "numpy"
    assert _backend.kernels is backend


@pytest.mark.parametrize("bad", [0, -1, 1.5, "2", True])
def test_num_threads_validation(bad):
    with pytest.raises(ValueError, match="num_threads"):
        _parallel.resolve_threads(bad)


def test_parallel_split_covers_range_exactly():
    for n in (0, 1, 7, 64, 65, 1000):
        for parts in (1, 2, 3, 8):
            ranges = _parallel.split(n, parts, min_chunk=4)
            assert ranges[0][0] == 0 and ranges[-1][1] == n
            assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:]))
            assert len(ranges) <= parts


def test_parallel_run_orders_results_and_propagates_errors():
    assert _parallel.run(lambda a, b: (a, b), 10, 3) == [(0, 4), (4, 7), (7, 10)]

    def boom(a, b):
        if a > 0:
            raise RuntimeError("worker failed")
        return a

    with pytest.raises(RuntimeError, match="worker failed"):
        _parallel.run(boom, 10, 2)


def test_tokenizer_fast_path_is_reported_only_where_it_runs(monkeypatch):
    from fastembed_core import _backend as backend

    caps = fe.capabilities()["tokenizer_fast_path"]
    assert caps["wordpiece"] == (fe.BACKEND == "compiled")
    monkeypatch.setenv("FASTEMBED_CORE_FAST_TOKENIZER", "0")
    caps = fe.capabilities()["tokenizer_fast_path"]
    assert caps == {"wordpiece": False, "unigram": False, "added_tokens": False, "enabled": False}
    monkeypatch.delenv("FASTEMBED_CORE_FAST_TOKENIZER")
    with backend.using("numpy"):
        caps = fe.capabilities()["tokenizer_fast_path"]
    assert caps["wordpiece"] is False and caps["unigram"] is False and caps["added_tokens"] is False
    assert caps["enabled"] is True
