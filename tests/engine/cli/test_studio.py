"""`w2s studio` hands its options to the studio's own process."""

from __future__ import annotations

from tests.engine.cli.test_results import w2s


def test_studio_help_is_the_studios_own(tmp_path):
    out = w2s("studio", "--help", home=tmp_path)
    assert out.returncode == 0 and out.stdout.startswith("usage: w2s studio") and "--port" in out.stdout
