# The two commands of the README do everything on a fresh machine:
#   make demo   set up, bring the local lab up, run playbooks/site.yml, show what it built
#   make test   set up, build the lab's images beside the unit tests; then two lanes on one lab: the fleet's
#               integration tests, and beside them the static checks (lint, sanity), molecule and the
#               integration tests that leave the fleet alone; then the lab's own test
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
LAB := $(BIN)/python lab/labctl.py
# Ansible reads ansible.cfg from the current directory; name it so a
# world-writable checkout or another cwd still uses it.
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
# Python keeps the bytecode of what it imports (some machines set PYTHONDONTWRITEBYTECODE): without it every
# Ansible run, and every module it runs on the controller, compiles its imports again, about a quarter of the
# tests' CPU. pip installs with --no-compile below, so only what is imported is ever compiled, once.
unexport PYTHONDONTWRITEBYTECODE
PYTEST_ARGS ?=

.PHONY: demo test lab-build unit static integration fleet-tests side-lane side-tests own-servers molecule lint sanity host venv lab-up lab-down lab-status build clean

demo: lab-up
	$(BIN)/ansible-playbook -i inventories/lab playbooks/site.yml
	@$(BIN)/ansible-inventory -i inventories/lab --graph fleet
	@$(BIN)/ansible -i inventories/lab 'role_manager[0]' -m ansible.builtin.command -a 'docker node ls'
	@$(LAB) status

# The unit tests beside the lab's build (the images, vcsim: on a fresh machine mostly network and disk; a unit
# failure shows in three minutes and stops the run before the lab starts), then the integration tests in two
# lanes, with the static checks and molecule in the lane that leaves the fleet alone: the fleet's tests wait
# on engines, swarms and clouds about a third of their time, and the other lane fills it. Each phase prints
# how long it took.
test: host venv
	@start=$$SECONDS; $(MAKE) --no-print-directory -j2 unit lab-build \
	  && echo "make test: lab build beside the unit tests took $$((SECONDS - start)) s"
	@start=$$SECONDS; $(MAKE) --no-print-directory integration SIDE="static molecule" \
	  && echo "make test: integration (fleet tests | static checks, molecule, other tests) took $$((SECONDS - start)) s"

static: lint sanity

# Unit tests have no shared state: spread them over the cores.
unit: venv
	$(BIN)/python -m pytest tests/unit -q -n 2 $(PYTEST_ARGS)

# The integration tests on one lab, in two lanes side by side: the fleet's (one module at a time: they share
# its machines, engines and swarm) and the side lane (the targets in SIDE, then the tests marked own_servers
# or beside_fleet); a failure in the side lane stops the fleet's (its own process group). The fleet lane is the
# longer: where both want the CPU it goes first (the side lane runs at nice 10). Then the lab's own
# test (lab_lifecycle), which takes the lab down and up again. The lab is brought up once for both lanes
# (CONTAINEROPS_LAB_SHARED: the tests leave it up) and taken down at the end if it was down before.
SIDE ?=
integration: host venv
	@was_up=yes; $(LAB) status >/dev/null 2>&1 || { was_up=no; $(LAB) down >/dev/null; }; \
	  rc=0; $(LAB) up || rc=$$?; \
	  if [ $$rc = 0 ]; then \
	    CONTAINEROPS_LAB_SHARED=1 setsid $(MAKE) --no-print-directory fleet-tests & fleet=$$!; \
	    trap 'kill -- -$$fleet 2>/dev/null' INT TERM; \
	    CONTAINEROPS_LAB_SHARED=1 nice -n 10 $(MAKE) --no-print-directory side-lane \
	      || { rc=$$?; echo "make integration: the side lane failed; stopping the fleet lane"; kill -- -$$fleet 2>/dev/null; }; \
	    wait $$fleet || [ $$rc != 0 ] || rc=1; \
	  fi; \
	  [ $$rc != 0 ] || CONTAINEROPS_LAB_SHARED=1 $(BIN)/python -m pytest tests/integration -q -m lab_lifecycle \
	    $(PYTEST_ARGS) || rc=$$?; \
	  [ $$was_up = yes ] || $(LAB) down; exit $$rc

fleet-tests: host venv
	$(BIN)/python -m pytest tests/integration -q -m "not own_servers and not beside_fleet and not lab_lifecycle" \
	  $(PYTEST_ARGS)

# One target after another; lines prefixed, as they interleave with the fleet lane's.
side-lane: host venv
	@set -o pipefail; for t in $(SIDE) side-tests; do $(MAKE) --no-print-directory $$t || exit; done 2>&1 \
	  | sed -u 's/^/[side] /'

side-tests: host venv
	$(BIN)/python -m pytest tests/integration -q -m "own_servers or beside_fleet" $(PYTEST_ARGS)

# The integration tests that start servers (a vcsim, etcd) or nodes of their own and need no lab.
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
# thousands) costs a fresh machine about half a minute of CPU; Python compiles what it imports, once (above).
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
