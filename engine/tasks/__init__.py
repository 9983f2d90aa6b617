"""Tasks: datasets turned into examples with labels, one file per task family (registered in engine.registry.TASKS).

    from engine.registry import TASKS
    task = TASKS.get("sciq")(TASKS.get("sciq").Config())
    pools = task.load()        # {"train": [Example, ...], "test": [...]}

Adding a task is one new file in this folder that registers a `Task` subclass (engine.tasks.base); shared
readers live in private modules (`_hub`, `_answers`), which the registry does not import as tasks.
"""
