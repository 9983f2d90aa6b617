"""Weak-to-Strong Studio engine: the headless core (tasks, models, methods, storage, server).

Importing `engine` stays light (no torch, transformers or duckdb): the studio imports
`engine.api` and `engine.client` only, and catalogue modules import the ML stack lazily.
"""

__version__ = "0.1.0"
