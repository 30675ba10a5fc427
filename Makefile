# The two commands of the README do everything on a fresh machine:
#   make demo   set up, bring the local lab up, run playbooks/site.yml, show what it built
#   make test   set up; unit tests first (a failure shows in two minutes), then the static checks
#               (lint, sanity) and the integration tests with servers of their own, while the
#               lab's images build and molecule runs the role scenarios on them; then the
#               integration tests on one shared lab
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
LAB := $(BIN)/python lab/labctl.py
# Ansible reads ansible.cfg from the current directory; name it so a
# world-writable checkout or another cwd still uses it.
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
PYTEST_ARGS ?=

.PHONY: demo test checks roles lab-build unit static integration own-servers molecule lint sanity host venv lab-up lab-down lab-status build clean

demo: lab-up
	$(BIN)/ansible-playbook -i inventories/lab playbooks/site.yml
	@$(BIN)/ansible-inventory -i inventories/lab --graph fleet
	@$(BIN)/ansible -i inventories/lab 'role_manager[0]' -m ansible.builtin.command -a 'docker node ls'
	@$(LAB) status

# Two lanes, then the lab: the unit tests and static checks (the checks are mostly one process
# each) beside the lab's images and the role scenarios on them (downloads, one builder, one
# scenario at a time); then the integration tests. Each lane's lines carry its name.
test: host venv
	@start=$$SECONDS; $(MAKE) --no-print-directory -j2 checks roles \
	  && echo "make test: first phase (checks | lab build, molecule) took $$((SECONDS - start)) s"
	@start=$$SECONDS; $(MAKE) --no-print-directory integration \
	  && echo "make test: integration took $$((SECONDS - start)) s"

checks: unit
	@$(MAKE) --no-print-directory static
	@$(MAKE) --no-print-directory own-servers

roles: lab-build
	@set -o pipefail; $(MAKE) --no-print-directory molecule 2>&1 | sed -u 's/^/[molecule] /'

static: lint sanity

# Unit tests have no shared state: spread them over the cores. Integration tests
# share one lab and run one at a time.
unit: venv
	$(BIN)/python -m pytest tests/unit -q -n 2 $(PYTEST_ARGS)

integration: host venv
	$(BIN)/python -m pytest tests/integration -q -m "not own_servers" $(PYTEST_ARGS)

# The integration tests that start their own servers (a vcsim of their own, etcd) and need no
# lab: in the first lane, beside the lab's build and molecule.
own-servers: host venv
	$(BIN)/python -m pytest tests/integration -q -m own_servers $(PYTEST_ARGS)

# Each role's molecule scenario (molecule/<scenario>), one after the other: its own node
# containers (the lab's node images, plain and golden, built here when missing) on its own network, converge,
# idempotence, testinfra, destroy. The lab itself is not used.
MOLECULE_SCENARIOS ?= salt_bootstrap swarm
molecule: host venv
	@start=$$SECONDS; set -e; bash lab/node/build.sh containerops-lab/node:bookworm; \
	  bash lab/images/bake_node.sh containerops-lab/node:bookworm containerops-lab/node:bookworm-golden $(CURDIR)/.lab; \
	  echo "molecule: node images ready in $$((SECONDS - start)) s"
	@set -e; for s in $(MOLECULE_SCENARIOS); do \
	  start=$$SECONDS; PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/molecule test -s $$s; \
	  echo "molecule: scenario $$s passed in $$((SECONDS - start)) s"; \
	done

# Static checks, nothing skipped: yamllint (.yamllint), ansible-lint at the production
# profile (.ansible-lint) and the changelog fragments. About 2 minutes.
lint: venv
	@start=$$SECONDS; set -e; $(BIN)/yamllint .; PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/ansible-lint; \
	  $(BIN)/antsibull-changelog lint; echo "make lint: passed in $$((SECONDS - start)) s"

# Static checks, no lab: ansible-test sanity (no ignore files) in a copy of the tree, then ruff.
# The first run on a machine builds ansible-test's venvs (~/.ansible/test); later runs reuse them.
sanity: venv
	bash .ci/sanity

host:
	@bash lab/setup-host.sh

venv: $(VENV)/.installed

# --no-compile: byte-compiling every file at install (the ansible package alone has tens of
# thousands) costs a fresh machine about half a minute of CPU; Python compiles what it imports.
$(VENV)/.installed: requirements.txt requirements-test.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --no-compile --disable-pip-version-check -r requirements-test.txt
	touch $@

lab-up: host venv
	$(LAB) up

# Lines prefixed, as they interleave with the checks' in make test.
lab-build: host venv
	@start=$$SECONDS; set -o pipefail; $(LAB) build 2>&1 | sed -u 's/^/[lab-build] /' \
	  && echo "[lab-build] make lab-build: done in $$((SECONDS - start)) s"

lab-down:
	@$(PYTHON) lab/labctl.py down

lab-status:
	@$(PYTHON) lab/labctl.py status

build: venv
	$(BIN)/ansible-galaxy collection build --force --output-path dist

clean: lab-down
	rm -rf $(VENV) dist
