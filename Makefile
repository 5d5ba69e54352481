# vdsm-hosted-engine: the two commands a new user needs are `make demo` and `make test`.
VENV    ?= .venv
PY      := $(VENV)/bin/python
PYTEST  := $(PY) -m pytest
STAMP   := $(VENV)/.setup-done

.PHONY: setup test unit integration e2e lint demo bench clean rpm

setup: $(STAMP)

$(STAMP): scripts/setup-host.sh setup.py
	scripts/setup-host.sh $(VENV)
	touch $@

test: setup lint
	$(PYTEST) tests

unit: setup
	$(PYTEST) -m unit tests

integration: setup
	$(PYTEST) -m integration tests

e2e: setup
	$(PYTEST) -m e2e tests

lint: setup
	$(PY) -m ruff check vdsm_hosted_engine tests bench docs
	$(PY) -m ruff format --check vdsm_hosted_engine tests bench docs

demo: setup
	$(PY) -m vdsm_hosted_engine.cli.lab demo

bench: setup
	$(PY) bench/cli.py
	$(PY) bench/whiteboard.py
	$(PY) bench/rpc_latency.py
	$(PY) bench/sim_campaign.py
	$(PY) bench/failover.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache

rpm: setup
	scripts/build-rpm.sh
