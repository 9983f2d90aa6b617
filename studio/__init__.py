"""Weak-to-Strong Studio's Gradio app: a light process that reaches the engine only through engine.client and
engine.api (no torch, transformers or duckdb), so it starts in seconds. `w2s studio` or `python -m studio`."""

from studio.startup import skip_stub_writing

skip_stub_writing()  # before any studio module imports gradio (studio.startup says why)
