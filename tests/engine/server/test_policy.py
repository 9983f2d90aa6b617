"""engine.server.policy: the mode and caps from the environment, and each public-mode rule on a real RunSpec."""

from __future__ import annotations

import pytest

from engine.config import config_from_dict
from engine.server.policy import Policy, PolicyError


def spec(**over):
    cfg = {"task": "world_size", "weak": "world-xs", "strong": "world-l", "methods": ["naive"]}
    cfg.update(over)
    return config_from_dict(cfg).expand()[0]


@pytest.fixture
def public(monkeypatch):
    for var in ("SPACE_ID", "W2S_PUBLIC", "W2S_ALLOW_MODELS", "W2S_MAX_SEEDS", "W2S_MAX_QUEUED"):
        monkeypatch.delenv(var, raising=False)
    return Policy.load(public=True)


def test_mode_and_caps_come_from_the_environment(monkeypatch):
    monkeypatch.delenv("W2S_PUBLIC", raising=False)
    monkeypatch.delenv("SPACE_ID", raising=False)
    local = Policy.load()
    assert not local.public and local.max_queued is None and local.worker_hf_token
    monkeypatch.setenv("SPACE_ID", "someone/w2s")
    space = Policy.load()
    assert space.public and space.max_queued == 8 and space.max_seeds == 5 and not space.worker_hf_token
    monkeypatch.setenv("W2S_MAX_SEEDS", "3")
    monkeypatch.setenv("W2S_MAX_QUEUED", "0")  # 0 = no limit
    monkeypatch.setenv("W2S_ALLOW_MODELS", "gpt2-medium, org/model")
    tuned = Policy.load()
    assert tuned.max_seeds == 3 and tuned.max_queued is None and tuned.allow_models == ("gpt2-medium", "org/model")
    monkeypatch.setenv("W2S_MAX_QUEUE", "lots")
    with pytest.raises(PolicyError, match="W2S_MAX_QUEUE='lots' is not a number"):
        Policy.load()
    monkeypatch.setenv("W2S_MAX_QUEUE", "inf")
    with pytest.raises(PolicyError, match="finite"):
        Policy.load()
    monkeypatch.delenv("W2S_MAX_QUEUE")
    monkeypatch.setenv("W2S_PUBLIC", "0")  # the owner can turn public mode off on a Space
    assert not Policy.load().public


@pytest.mark.parametrize("over,words", [
    ({"task": {"name": "file", "path": "/etc/passwd.csv"}}, ["'/etc/passwd.csv' is a server path", "upload"]),
    ({"task": {"name": "world_size", "world": "/srv/other.json"}}, ["does not read its own files", "world"]),
    ({"weak": "/srv/models/custom"}, ["model '/srv/models/custom' is a folder on the server", "W2S_ALLOW_MODELS"]),
    ({"strong": "someone/unvetted-model"}, ["model 'someone/unvetted-model' is not offered", "world-l"]),
    ({"train": {"trust_remote_code": True}}, ["remote code is off", "trust_remote_code to false"]),
    ({"train": {"roles": {"weak": {"trust_remote_code": True}}}},
     ["train.roles.weak.trust_remote_code: remote code is off"]),
    ({"methods": ["weak_gen"], "task": "world_gen", "settings": {"weak_gen": {"scorer": "classifier:/srv/tox"}}},
     ["'/srv/tox' is a folder on the server"]),
    ({"methods": ["bootstrap"], "settings": {"bootstrap": {"via": ["/tmp/mid"]}}}, ["'/tmp/mid' is a folder"]),
    ({"n_train": 10_000}, ["n_train=10,000 is over this server's limit of 5,000", "W2S_MAX_EXAMPLES"]),
    ({"task": "sciq", "weak": "gpt2", "strong": "gpt2-medium"}, ["task 'sciq' loads from the hub", "set n_train"]),
    ({"train": {"epochs": 500}}, ["train.epochs=500 is over this server's limit of 20", "W2S_MAX_EPOCHS"]),
    ({"train": {"keep_weights": True}}, ["train.keep_weights: keeping trained weights is off", "Fix: leave"]),
    ({"train": {"roles": {"student": {"report_to": ["tensorboard"]}}}},
     ["train.roles.student.report_to: writing tracker logs is off"]),
    ({"task": {"name": "hub_dataset", "dataset": "org/data"}}, ["loads from the hub", "set n_train"]),
])
def test_public_mode_refuses_with_the_setting_and_the_fix(public, over, words):
    with pytest.raises(PolicyError) as err:
        public.check_spec(spec(**over), owns_upload=lambda ref: True)
    for w in words:
        assert w in str(err.value)
    Policy().check_spec(spec(**over))  # local mode: all of these are the user's own business


def test_public_mode_allows_catalogue_models_allowed_hub_ids_and_own_uploads(public):
    public.check_spec(spec())
    public.check_spec(spec(task="sciq", weak="gpt2", strong="gpt2-medium", n_train=400, n_test=100))
    allowed = Policy(public=True, allow_models=("org/vetted",))
    allowed.check_spec(spec(strong="org/vetted"))
    mine = spec(task={"name": "file", "path": "upload:0123456789abcdef-data.csv"})
    public.check_spec(mine, owns_upload=lambda ref: ref.endswith("-data.csv"))
    with pytest.raises(PolicyError, match="is not one of your uploads"):
        public.check_spec(mine, owns_upload=lambda ref: False)


def test_seeds_per_sweep_are_counted_before_expansion(public):
    public.check_sweep({"seeds": [0, 1, 2, 3, 4]})
    with pytest.raises(PolicyError, match="6 seeds in one sweep; this server allows at most 5 .*W2S_MAX_SEEDS"):
        public.check_sweep({"seeds": list(range(6))})
    Policy().check_sweep({"seeds": list(range(500))})


def test_worker_environment_keeps_no_secrets_in_public_mode(public):
    env = {"PATH": "/bin", "HOME": "/root", "HF_TOKEN": "hf_secret", "HF_HOME": "/data/hf", "AWS_SECRET": "x",
           "W2S_OWNER_PASSWORD": "pw", "W2S_HOME": "/data/w2s", "CUDA_VISIBLE_DEVICES": "0", "PYTHONPATH": "/app"}
    got = public.worker_env(env)
    assert got == {"PATH": "/bin", "HOME": "/root", "HF_HOME": "/data/hf", "W2S_HOME": "/data/w2s",
                   "CUDA_VISIBLE_DEVICES": "0", "PYTHONPATH": "/app"}
    assert "HF_TOKEN" in Policy(public=True, worker_hf_token=True).worker_env(env)
    assert Policy().worker_env(env) == env  # local mode: today's behaviour
