"""A private etcd for the IPAM tests, started once per test process on free loopback ports."""
import itertools
import shutil

import pytest

from etcd_server import EtcdServer

_PREFIXES = itertools.count()


@pytest.fixture(scope="session")
def etcd_url(tmp_path_factory):
    if not shutil.which("etcd"):
        pytest.skip("no etcd binary on PATH (Debian package etcd-server)")
    server = EtcdServer(str(tmp_path_factory.mktemp("etcd") / "data")).start()
    yield server.url
    server.stop()


@pytest.fixture
def ipam_prefix(request):
    """A key prefix of this test's own, so tests share the server but never each other's keys."""
    return "/test/%s-%d" % (request.node.name.replace("[", "-").replace("]", "").replace("/", "-")[:60],
                            next(_PREFIXES))
