"""Task registry: datasets turned into examples with labels, one file per task family.

    from engine.tasks import TASKS
    task = TASKS.get("sciq")(TASKS.get("sciq").Config())
    pools = task.load()        # {"train": [Example, ...], "test": [...]}

Adding a task is one new file in this folder that registers a `Task` subclass.
"""

from engine.registry import Registry

TASKS: Registry = Registry("task", package="engine.tasks")
