# Two entry points: `make demo` and `make test`. Both set up what is missing:
# system packages through apt-get when run as root, then a virtualenv.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat setup.py .ci/system-packages | cksum | cut -d' ' -f1)

.PHONY: demo test bench setup system-packages clean

demo: $(STAMP)
	$(PY) -m gateq.demo demo

test: $(STAMP)
	$(PY) -m pytest -q tests

bench: $(STAMP)
	$(PY) bench/merge.py
	$(PY) bench/scheduler.py
	$(PY) bench/strategies.py
	$(PY) bench/publish.py
	$(PY) bench/gc.py
	$(PY) bench/sandbox.py
	$(PY) bench/job_output.py
	$(PY) bench/export_in_gate.py
	$(PY) bench/restart.py
	$(PY) bench/gerrit_intake.py
	$(PY) bench/web_load.py
	$(PY) bench/webhook_load.py
	$(PY) bench/workspace.py
	$(PY) bench/engine_overhead.py
	$(PY) bench/zk_failover.py
	$(PY) bench/zk_overhead.py
	$(PY) bench/zk_scale.py
	$(PY) bench/nodes.py
	$(PY) bench/artifact_transfer.py

setup: $(STAMP)

system-packages:
	@sh .ci/install-system-packages

$(STAMP): setup.py .ci/system-packages
	@sh .ci/install-system-packages
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -e '.[test]'
	@rm -f $(VENV)/.installed-* && touch $@

clean:
	rm -rf $(VENV) demo *.egg-info
