"""studio.launch: Gradio's defaults reach the app without a second queue() call, and serving turns the cyclic
garbage collector back on (launch.main turns it off for the start) with what start-up made frozen."""

from __future__ import annotations

import gc
import threading
import time

import httpx

from studio import launch
from tests.helpers import free_port


def test_events_run_eight_at_a_time_and_the_collector_is_back_on_once_serving(monkeypatch):
    import gradio as gr
    from gradio_client import Client

    monkeypatch.setenv("GRADIO_DEFAULT_CONCURRENCY_LIMIT", "")
    monkeypatch.delenv("GRADIO_DEFAULT_CONCURRENCY_LIMIT")  # unset, restored after the test
    launch.gradio_defaults()
    running, peak, lock = [0], [0], threading.Lock()

    def slow(x: str) -> str:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(1.0)
        with lock:
            running[0] -= 1
        return x

    with gr.Blocks() as demo:
        box = gr.Textbox()
        box.submit(slow, box, box, api_name="slow")
    port = free_port()
    gc.disable()
    try:
        launch.serve(demo, block=False, server_name="127.0.0.1", server_port=port, quiet=True)
        assert gc.isenabled() and gc.get_freeze_count() > 0
        assert httpx.get(f"http://127.0.0.1:{port}", timeout=10).status_code == 200
        client = Client(f"http://127.0.0.1:{port}", verbose=False)
        jobs = [client.submit(str(i), api_name="/slow") for i in range(4)]
        assert sorted(job.result(timeout=60) for job in jobs) == ["0", "1", "2", "3"]
        assert peak[0] == 4  # Gradio's own default would run them one at a time
    finally:
        demo.close()
        gc.unfreeze()
        gc.enable()
