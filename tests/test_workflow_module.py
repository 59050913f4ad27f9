"""The example workflow used as a Snakemake module, as the README shows it (rules' paths resolve relative
to the workflow's own files, not to the Snakefile that uses it)."""

from __future__ import annotations

import re
import subprocess
import sys

from workflow_helpers import REPO, write_config


def test_readme_module_snippet_builds_the_dag(majora_home, tmp_path):
    text = (REPO / "README.md").read_text()
    section = text.split("### In your own workflow: as a Snakemake module", 1)[1].split("\n## ", 1)[0]
    snippet = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert "/path/to/snakemake-majora/workflow/Snakefile" in snippet
    work = tmp_path / "my-batch"
    work.mkdir()
    (work / "Snakefile").write_text(snippet.replace("/path/to/snakemake-majora", str(REPO)))
    write_config(work, {"samples": ["BIRM-00001", "CAMB-00002"]})
    res = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--cores", "2"], cwd=work,
                         env=majora_home.env, capture_output=True, text=True, timeout=300, check=False)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-3000:]
    assert "resolve_batch" in out and "This was a dry-run" in out
