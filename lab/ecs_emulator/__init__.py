"""A local emulator of the Alibaba Cloud ECS OpenAPI 2014-05-26 (RPC style).

It speaks the wire protocol of the real service (signatures V1 HMAC-SHA1 and V3
ACS3-HMAC-SHA256, JSON bodies, real error codes), over HTTP and optionally HTTPS, so
that aliyun-python-sdk-core/-ecs, footmark, the current alibabacloud_ecs20140526 SDK
and our Ansible modules run against it unchanged. README.md beside this file says how
unkind it is and why; run ``python -m ecs_emulator --help``. Standard library only.
"""

from .auth import parse_credentials  # noqa: F401
from .backend import Backend, BackendError, DockerBackend, NoneBackend, make_backend  # noqa: F401
from .server import Emulator  # noqa: F401
from .state import World  # noqa: F401

__all__ = ["Emulator", "World", "Backend", "BackendError", "DockerBackend", "NoneBackend",
           "make_backend", "parse_credentials"]
