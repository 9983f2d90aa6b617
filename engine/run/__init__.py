"""Running one experiment: the worker process, the execution of a validated spec, the run context methods report
through, and the content-addressed stages (one cache sequence for every stage kind).

    worker.py         `python -m engine.run.worker RUN`: a queued run in its own process, events to the engine
    execute.py        execute(spec, ctx) and run_local(spec, store) for the CLI
    context.py        RunContext: progress, metrics, predictions and the cache, in-process or over HTTP
    stages.py         Experiment: splits, labels and the cached stage primitive
    policy_stages.py  policy, reward-model and generation stages of the preference and reasoning methods
"""
