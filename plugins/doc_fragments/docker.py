# -*- coding: utf-8 -*-
# Copyright: containerops.platform developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment:
    # The engine options of every module that goes through module_utils/docker.py.
    DOCUMENTATION = r"""
requirements:
  - Docker SDK for Python on the node (Debian package C(python3-docker); the
    containerops.platform.swarm role installs it)
options:
  docker_host:
    description:
      - Engine to talk to, on the node the task runs on - C(unix://) (the default), C(ssh://), or
        C(tcp://HOST:PORT) with mutual TLS (O(ca_path), O(client_cert), O(client_key)).
      - A C(tcp://) engine without TLS is refused, because anyone who reaches the port controls the engine and
        reads the swarm's secrets, and an C(http://) address is the same.
    type: str
    default: unix:///var/run/docker.sock
  ca_path:
    description: CA certificate (PEM file) the engine's certificate must be signed by; with C(tcp://).
    type: path
  client_cert:
    description: Client certificate (PEM file) for mutual TLS; with C(tcp://).
    type: path
  client_key:
    description: Key of O(client_cert) (PEM file); with C(tcp://).
    type: path
"""
