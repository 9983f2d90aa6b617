"""studio.startup: importing the studio keeps Gradio from rewriting component stubs, and changes nothing else."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_a_component_defined_after_importing_the_studio_writes_no_stub_and_still_works(tmp_path):
    # Gradio (as shipped) writes <module>.pyi beside every new component class; through the studio it must not.
    (tmp_path / "mine.py").write_text(textwrap.dedent('''
        import gradio as gr

        class Shout(gr.Textbox):
            def preprocess(self, payload):
                return (payload or "").upper()
    '''))
    code = textwrap.dedent(f'''
        import sys
        sys.path.insert(0, {str(tmp_path)!r})
        import studio.app  # noqa: F401  (installs the hook, then imports gradio)
        import gradio.component_meta as meta
        from studio import startup
        import mine
        assert meta.create_or_modify_pyi is startup._no_stub, meta.create_or_modify_pyi
        assert not startup.installed()  # one shot: the hook is gone once it fired
        assert startup.skip_stub_writing() is False  # gradio's classes exist: nothing left to do
        print(mine.Shout().preprocess("quiet"))
    ''')
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "QUIET"
    assert not (tmp_path / "mine.pyi").exists()
