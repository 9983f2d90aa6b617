"""`pip install .` gives a working `w2s`: the wheel carries the presets, the zoo and the studio's CSS, so the demo
preset runs and `w2s studio` starts from a fresh virtual environment, away from the checkout."""

from __future__ import annotations

import os
import site
import subprocess
import sys
import zipfile

import pytest

from tests.helpers import ROOT

pytestmark = pytest.mark.slow  # building and installing the wheel takes ~20 s; the demo run a minute or more


@pytest.fixture(scope="module")
def fresh_venv(tmp_path_factory):
    """A new venv with only the wheel installed; its dependencies come from this interpreter's site-packages
    (a .pth line), so the test needs no download and still imports engine and studio from the wheel."""
    tmp = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(tmp / "dist"), str(ROOT)], check=True, capture_output=True)
    (wheel,) = (tmp / "dist").glob("w2s_studio-*.whl")
    subprocess.run([sys.executable, "-m", "venv", str(tmp / "venv")], check=True)
    py = tmp / "venv" / "bin" / "python"
    subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", str(wheel)], check=True, capture_output=True)
    purelib = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    deps = [p for p in site.getsitepackages() if "site-packages" in p]
    with open(os.path.join(purelib, "_deps.pth"), "w") as f:
        f.write("\n".join(deps) + "\n")
    return wheel, tmp / "venv" / "bin", tmp


def test_the_wheel_carries_the_assets(fresh_venv):
    wheel, _, _ = fresh_venv
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "engine/_assets/configs/demo.yaml" in names and "studio/static/studio.css" in names
    assert {f"engine/_assets/zoo/{size}/model.safetensors" for size in ("xs", "s", "l")} <= names
    assert "studio/app.py" in names and "engine/server/app.py" in names


def test_the_installed_w2s_runs_the_demo_and_starts_the_studio(fresh_venv):
    _, bin_dir, tmp = fresh_venv
    env = {**os.environ, "W2S_HOME": str(tmp / "home"), "PYTHONPATH": ""}
    where = subprocess.run([str(bin_dir / "python"), "-c", "import engine, studio; print(engine.__file__, studio.__file__)"],
                           cwd=tmp, env=env, capture_output=True, text=True, check=True).stdout
    assert str(ROOT) not in where and "site-packages" in where
    shown = subprocess.run([str(bin_dir / "w2s"), "studio", "--help"], cwd=tmp, env=env, capture_output=True,
                           text=True, timeout=120)
    assert shown.returncode == 0 and "--port" in shown.stdout
    done = subprocess.run([str(bin_dir / "w2s"), "run", "demo", "--quiet"], cwd=tmp, env=env, capture_output=True,
                          text=True, timeout=1200)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "medians over seeds" in done.stdout and done.stdout.count(" done ") == 6
