"""`esper demo --small` runs to the end against a fresh server and its summary shows a grown
network."""
import os
import re
import subprocess
import tempfile

from esper_process import ROOT


def test_the_small_demo_grows_the_network():
    binary = os.environ.get("ESPER_BINARY", os.path.join(ROOT, ".build", "debug", "esper"))
    with tempfile.TemporaryDirectory(prefix="esper-demo-") as work:
        data = os.path.join(work, "demo")
        result = subprocess.run([binary, "demo", "--small", "--data-dir", data], capture_output=True, text=True, timeout=600, cwd=work)
        assert result.returncode == 0, result.stdout + result.stderr
        out = result.stdout
        assert len(re.findall(r"^epoch +\d+/40 ", out, re.M)) == 40
        added = int(re.search(r"^parameters added: (\d+)", out, re.M).group(1))
        assert added > 0, out
        assert re.search(r"fossilized [1-9]", out), out
        assert "== Esper demo summary ==" in out and "simic: " in out
        assert os.path.exists(os.path.join(data, "tamiyo", "field_reports.log"))
        assert f"field reports: " in out and data in out
