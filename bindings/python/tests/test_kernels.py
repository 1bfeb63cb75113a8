"""lstmkit.kernels() (lk_kernels) and LSTMKIT_MAX_ISA: the kernels chosen for this CPU,
and the cap that makes a larger CPU run a smaller one's paths, with the same results up
to float rounding (docs/PERFORMANCE.md, "Kernels")."""
import functools
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import lstmkit
from helpers import cli, needs_cli

CPU_FLAGS = open("/proc/cpuinfo").read().split("\n\n")[0] if os.path.exists("/proc/cpuinfo") else ""

CODE = """
import json, numpy as np, lstmkit
lstm = lstmkit.LSTM(6, 16, num_layers=2, bidirectional=True, seed=1)
x = np.random.default_rng(0).uniform(-1, 1, (3, 9, 6)).astype(np.float32)
y = lstm(x)[0]
y8 = lstm.quantize()(x)[0]
print(json.dumps({"kernels": lstmkit.kernels(), "y": y.tolist(), "y8": y8.tolist()}))
"""


@functools.lru_cache(maxsize=None)   # the uncapped run once for every case
def run(cap):
    env = {k: v for k, v in os.environ.items() if k != "LSTMKIT_MAX_ISA"}
    if cap is not None:
        env["LSTMKIT_MAX_ISA"] = cap
    proc = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, env=env, timeout=300,
                          cwd=os.path.dirname(os.path.abspath(__file__)))
    assert proc.returncode == 0, proc.stderr[-1500:]
    return json.loads(proc.stdout)


def test_kernels_name_this_cpus_choice():
    k = lstmkit.kernels()
    assert list(k) == ["float32", "packed", "int8", "openblas"]
    assert k["float32"] in ("avx512f", "avx2_fma", "baseline") and k["packed"] in ("avx512", "avx2_fma", "plain")
    assert k["int8"] in ("avx512vnni", "avx2", "plain") and k["openblas"]
    if os.environ.get("LSTMKIT_MAX_ISA") is None and " avx512f " in CPU_FLAGS + " ":
        assert k["float32"] == "avx512f" and k["packed"] == "avx512"


@pytest.mark.parametrize("cap,expected", [
    ("plain", {"float32": "baseline", "packed": "plain", "int8": "plain"}),
    ("avx2", {"float32": "avx2_fma", "packed": "avx2_fma", "int8": "avx2"}),
    ("AVX512", None),   # no cap (any case)
    ("sse9", None),     # unknown: no cap
])
def test_max_isa_caps_the_choice(cap, expected):
    if cap == "avx2" and not (" avx2 " in CPU_FLAGS + " " and " fma " in CPU_FLAGS + " "):
        pytest.skip("this CPU has no AVX2 + FMA")
    base, capped = run(None), run(cap)
    if expected is None:
        assert capped["kernels"] == base["kernels"]
        assert capped["y"] == base["y"] and capped["y8"] == base["y8"]
        return
    assert {k: capped["kernels"][k] for k in expected} == expected
    # Another variant sums in another order: the same outputs up to float rounding; the
    # int8 kernels compute the same integers, so their outputs only differ by the
    # float32 parts around them.
    np.testing.assert_allclose(capped["y"], base["y"], atol=1e-5)
    np.testing.assert_allclose(capped["y8"], base["y8"], atol=1e-4)


@needs_cli
def test_cli_version_names_the_kernels():
    line = cli("--version").stdout.strip()
    assert line.startswith(lstmkit.__version__ + " (kernels: float32=") and "openblas=" in line
