"""Offline stand-in for the get-pip script ansible-test bootstraps its venvs with.

ansible-test downloads get-pip-<version>.py from a CI host, unless a copy is cached at
~/.ansible/test/cache/get_pip_<version>.py. .ci/sanity places this file there, named after the
version ansible-test asks for, with PyPI's pip wheel of that version beside it: it installs that
wheel plus whatever packages ansible-test passed, as get-pip would.
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
VERSION = os.path.splitext(os.path.basename(__file__))[0][len('get_pip_'):].replace('_', '.')
WHEEL = os.path.join(HERE, 'pip-%s-py3-none-any.whl' % VERSION)
# get-pip's own switches; pip install does not know them.
GET_PIP_ONLY = ('--no-setuptools', '--no-wheel')

sys.path.insert(0, WHEEL)

from pip._internal.cli.main import main  # noqa: E402  (importable only once the wheel is on sys.path)

if __name__ == '__main__':
    args = [arg for arg in sys.argv[1:] if arg not in GET_PIP_ONLY]
    sys.exit(main(['install', '--upgrade', '--force-reinstall', WHEEL] + args))
