# -*- coding: utf-8 -*-
# Copyright: containerops.platform developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # The engine options of every module that goes through module_utils/docker.py.
    DOCUMENTATION = r"""
requirements:
  - Docker SDK for Python on the node (Debian package C(python3-docker); the
    containerops.platform.swarm role installs it)
options:
  docker_host:
    description: Engine to talk to, on the node the task runs on.
    type: str
    default: unix:///var/run/docker.sock
"""
