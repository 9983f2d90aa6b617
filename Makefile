# Two commands on a fresh machine: `make studio` and `make test`. Each sets up .venv first.
PY := .venv/bin/python
STAMP := .venv/.installed

.PHONY: studio demo test test-slow bench screenshots clean-venv

$(STAMP): requirements.txt requirements-extras.txt pyproject.toml
	test -x $(PY) || python3 -m venv .venv
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q -r requirements-extras.txt
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	touch $(STAMP)

studio: $(STAMP)
	$(PY) launch.py

demo: $(STAMP)
	$(PY) -m engine.cli run assets/configs/demo.yaml

test: $(STAMP)
	$(PY) -m pytest -q

test-slow: $(STAMP)
	$(PY) -m pytest -q -m slow

screenshots: $(STAMP)
	@command -v chromium >/dev/null || { echo "screenshots need chromium: apt-get install -y chromium"; exit 1; }
	$(PY) scripts/screenshots.py

bench: $(STAMP)
	for f in benchmarks/bench_*.py; do $(PY) $$f || exit 1; done

clean-venv:
	rm -rf .venv
