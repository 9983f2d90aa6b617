"""`python -m engine.cli ...` is `w2s ...`."""

from engine.cli import entry

entry()
