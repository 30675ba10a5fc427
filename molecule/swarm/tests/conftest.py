"""The scenario's inventory as the tests need it: every node's variables by name."""
import os

import pytest
import testinfra.utils.ansible_runner


@pytest.fixture(scope="session")
def fleet():
    runner = testinfra.utils.ansible_runner.AnsibleRunner(os.environ["MOLECULE_INVENTORY_FILE"])
    return {name: runner.get_variables(name) for name in runner.get_hosts("fleet")}
