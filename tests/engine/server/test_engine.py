"""The engine's data endpoints: presets as shipped, uploads kept where workers read them and described."""

from __future__ import annotations

import pytest

from engine.client import EngineError


def test_presets_are_the_shipped_yaml_demo_first(engine):
    presets = engine.client.presets()
    assert presets[0].name == "demo" and presets[0].config["task"] == "world_size"
    assert any(p.name.startswith("burns_") for p in presets)


def test_an_upload_is_stored_once_and_described(engine):
    data = b"review,stars\nnice,5\nbad,1\nok,3\n"
    first = engine.client.upload("stars.csv", data)
    again = engine.client.upload("stars.csv", data)
    assert first.path == again.path and first.path.startswith(str(engine.home / "uploads"))
    assert first.rows == 3 and first.columns == ["review", "stars"] and first.distinct["stars"] == 3
    assert sorted(first.values["stars"]) == [1, 3, 5] and first.preview.data["review"] == ["nice", "bad", "ok"]


@pytest.mark.parametrize("name,data,words", [
    ("notes.txt", b"hello", "unknown file type"),
    ("broken.parquet", b"not parquet", "cannot read file broken.parquet as parquet"),
])
def test_an_unusable_upload_is_a_422_naming_the_fix(engine, name, data, words):
    with pytest.raises(EngineError) as err:
        engine.client.upload(name, data)
    assert err.value.status == 422 and words in str(err.value) and str(engine.home) not in str(err.value)
