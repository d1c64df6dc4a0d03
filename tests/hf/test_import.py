"""``tb_netviz.hf`` imports transformers only when the callback is used, and says how to install it."""

from __future__ import annotations

import subprocess
import sys

from tests.sharded.ranks import REPO


def run_python(code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO, check=True
    )
    return result.stdout.strip()


def test_importing_tb_netviz_hf_imports_neither_torch_nor_transformers_until_the_callback_is_used():
    out = run_python(
        "import sys, tb_netviz.hf; a = 'torch' in sys.modules or 'transformers' in sys.modules\n"
        "from tb_netviz.hf import NetVizCallback; b = 'transformers' in sys.modules\n"
        "print(a, b, NetVizCallback.__mro__[1].__name__)"
    )
    assert out == "False True TrainerCallback"


def test_callback_without_transformers_says_how_to_install_it():
    out = run_python(
        "import sys; sys.modules['transformers'] = None\n"
        "import tb_netviz.hf\n"
        "try:\n"
        "    tb_netviz.hf.NetVizCallback\n"
        "except ImportError as error:\n"
        "    print(error)\n"
    )
    assert "pip install 'tb-netviz[hf]'" in out
