"""Run a module's main() in the test process, as Ansible would run it on a node: the arguments through
ansible.module_utils.testing.patch_module_args, the result from the JSON it prints."""
import json

import pytest
from ansible.module_utils.testing import patch_module_args


def run_module(main, args, capsys, check_mode=False):
    """The module's result (failed ones too); diff mode is always on."""
    with patch_module_args(dict(args, _ansible_check_mode=check_mode, _ansible_diff=True)):
        with pytest.raises(SystemExit):
            main()
    return json.loads(capsys.readouterr().out)
