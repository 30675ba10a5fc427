"""A local emulator of the Alibaba Cloud ECS OpenAPI 2014-05-26 (RPC style).

It speaks the wire protocol of the real service (HMAC-SHA1 signature v1.0, JSON
bodies, real error codes) so that aliyun-python-sdk-core/-ecs, footmark and our
Ansible modules run against it unchanged. Run ``python -m ecs_emulator --help``.
Standard library only.
"""

from .server import Emulator, parse_credentials  # noqa: F401
from .state import World  # noqa: F401
from .backend import Backend, BackendError, DockerBackend, NoneBackend, make_backend  # noqa: F401

__all__ = ["Emulator", "World", "Backend", "BackendError", "DockerBackend", "NoneBackend",
           "make_backend", "parse_credentials"]
