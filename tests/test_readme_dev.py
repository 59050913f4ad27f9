"""The README's "Try it on your own Snakefile" section, run as written: ``server dev`` seeds, starts
majora-lite and logs in; Snakemake reads a record through the plugin; after ``--stop`` the same commands
find the same URL and the same token (no new login)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def _section() -> tuple[str, list[str]]:
    """The Snakefile and the shell commands of the README section."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## Try it on your own Snakefile\n", 1)[1].split("\n## ", 1)[0]
    snakefile = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    block = re.search(r"```sh\n(.*?)```", section, re.S).group(1)
    commands = [line for line in block.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return snakefile, commands


def test_readme_section_has_at_most_six_commands():
    _, commands = _section()
    assert 0 < len(commands) <= 6, commands
    assert commands[0].startswith("snakemake-majora server dev") and "snakemake --cores 4" in commands


def test_readme_dev_commands_run_verbatim_and_a_restart_keeps_url_and_token(tmp_path):
    snakefile, commands = _section()
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    (work / "Snakefile").write_text(snakefile)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MAJORA_", "SNAKEMAKE_MAJORA_", "XDG_", "OCARINA_"))
           and k not in ("CLIENT_ID", "CLIENT_SECRET")}
    env.update(HOME=str(home), PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}")
    data_dir = home / "majora-dev"
    script = "set -eu\n" + "\n".join(commands) + "\n"

    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run(["bash", "-c", script], cwd=work, env=env, capture_output=True, text=True,
                              timeout=600, check=False)

    try:
        first = run()
        assert first.returncode == 0, (first.stdout + first.stderr)[-4000:]
        assert "logged in as dev" in first.stderr
        record = json.loads((work / "BIRM-00001.json").read_text())
        assert record["central_sample_id"] == "BIRM-00001"
        assert "BIRM-00001" in json.loads((work / "BIRM-00001.majora.json").read_text())
        conf = yaml.safe_load((data_dir / "home" / "config.yaml").read_text())
        tokens = {p.name: p.read_bytes() for p in (data_dir / "home" / "tokens").glob("*.json")}
        assert len(tokens) == 1
        assert not (data_dir / "server.json").exists()  # --stop stopped it

        (work / "BIRM-00001.json").unlink()
        second = run()
        assert second.returncode == 0, (second.stdout + second.stderr)[-4000:]
        assert "still logged in as dev" in second.stderr and "first run" not in second.stderr
        assert (work / "BIRM-00001.json").exists()
        assert yaml.safe_load((data_dir / "home" / "config.yaml").read_text())["domain"] == conf["domain"]
        assert {p.name: p.read_bytes() for p in (data_dir / "home" / "tokens").glob("*.json")} == tokens
    finally:
        subprocess.run([str(BIN / "snakemake-majora"), "server", "dev", "--data-dir", str(data_dir),
                        "--stop"], env=env, capture_output=True, timeout=60, check=False)
