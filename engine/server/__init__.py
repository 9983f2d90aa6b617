"""The engine server: the only process that opens the DuckDB file.

    serve.py      `w2s serve`: bind 127.0.0.1, announce in engine.json, run the API
    app.py        the HTTP API, one router per resource
    engine.py     the service the routes share (expand configs, apply worker events, views)
    scheduler.py  queued runs become workers, up to K at once, through a backend (backends/: subprocess, ray)
    auth.py       who calls: the owner, a public visitor, or one run's worker (its token reaches that run only)
    store.py      the one writer; schema.py the migrations; queries.py the named reads
"""
