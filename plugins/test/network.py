# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Address tests the roles need for their checks (Python's ipaddress; no netaddr on the controller)."""

import ipaddress


def cidr_contains(cidr, address):
    """Whether the IPv4/IPv6 network cidr holds address; False when either is not one."""
    try:
        return ipaddress.ip_address(str(address)) in ipaddress.ip_network(str(cidr), strict=False)
    except ValueError:
        return False


class TestModule:
    def tests(self):
        return {"cidr_contains": cidr_contains}
