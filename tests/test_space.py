"""The Hugging Face Space recipe of the README, checked as far as it can be without the Hub: binary files under
Git LFS, a CPU-only torch for a cpu-basic Space that satisfies the same pin, the documented settings real."""

from __future__ import annotations

import re
import subprocess

from packaging.requirements import Requirement

from tests.helpers import ROOT


def _pins(path) -> dict[str, Requirement]:
    lines = [ln.split("#", 1)[0].strip() for ln in path.read_text().splitlines()]
    reqs = [Requirement(ln) for ln in lines if ln and not ln.startswith("-")]
    return {r.name.lower(): r for r in reqs}


def test_every_tracked_binary_file_goes_to_git_lfs():
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout.split(b"\0")
    binary = []
    for name in filter(None, files):
        path = ROOT / name.decode()
        if path.is_file() and b"\0" in path.read_bytes()[:8000]:
            binary.append(name.decode())
    assert any(b.endswith(".safetensors") for b in binary) and any(b.endswith(".png") for b in binary)
    out = subprocess.run(["git", "check-attr", "filter", "--", *binary], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout
    not_lfs = [line.split(":")[0] for line in out.splitlines() if not line.endswith(": lfs")]
    assert not not_lfs, f"binary files the Hub would refuse (add a pattern to .gitattributes): {not_lfs}"


def test_a_cpu_space_installs_the_cpu_build_of_the_pinned_torch():
    pre, req = _pins(ROOT / "pre-requirements.txt"), _pins(ROOT / "requirements.txt")
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in (ROOT / "pre-requirements.txt").read_text()
    (cpu,) = pre["torch"].specifier
    assert cpu.operator == "==" and cpu.version.endswith("+cpu")
    pinned = req["torch"].specifier
    assert pinned.contains(cpu.version), "requirements.txt's torch pin must accept the CPU build, or pip replaces it"
    assert str(pinned) == "==" + cpu.version.removesuffix("+cpu")
    assert set(pre) == {"torch"}  # everything else comes from requirements.txt, pinned once


def test_the_readme_names_every_setting_a_space_owner_needs():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### On Hugging Face Spaces", 1)[1].split("\n## ", 1)[0]
    for word in ("W2S_HOME", "/data", "W2S_OWNER_PASSWORD", "HF_TOKEN", "W2S_ALLOW_MODELS", "pre-requirements.txt",
                 "git lfs", "cpu-basic", "W2S_MAX_QUEUED"):
        assert word in section, f"the Spaces section does not mention {word}"
    from engine.server import policy

    documented = set(re.findall(r"W2S_[A-Z_]+", policy.__doc__))
    for field in policy.Policy.__dataclass_fields__.values():
        env = field.metadata.get("env")
        assert env is None or env in documented, f"{env} is missing from policy.py's settings table"
