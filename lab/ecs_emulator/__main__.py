"""Command line: PYTHONPATH=lab python -m ecs_emulator --listen 127.0.0.1:8990 --credentials creds.json"""

import argparse
import json
import logging
import os
import signal
import sys
import threading

from .backend import make_backend
from .server import Emulator
from .state import DEFAULT_DELAYS, World

ENV_KEYS = "ECS_EMULATOR_ACCESS_KEYS"


def _listen(value):
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit():
        raise argparse.ArgumentTypeError("expected HOST:PORT, got %r" % value)
    return host.strip("[]") or "127.0.0.1", int(port)


def _rate(value):
    rate = float(value)
    if not 0.0 <= rate <= 1.0:
        raise argparse.ArgumentTypeError("a rate is within 0..1")
    return rate


def build_parser():
    p = argparse.ArgumentParser(
        prog="python -m ecs_emulator",
        description="Emulates the Alibaba Cloud ECS OpenAPI 2014-05-26 (RPC style, HMAC-SHA1 signature v1.0) "
                    "for lab use. Responses are always JSON (Format=XML is not supported). Admin endpoints "
                    "(unsigned, loopback clients only): GET|PUT|POST|DELETE /_emulator/faults, "
                    "GET /_emulator/instances, GET|DELETE /_emulator/stats, GET /_emulator/health.")
    p.add_argument("--listen", type=_listen, default=("127.0.0.1", 8990), metavar="HOST:PORT",
                   help="address to serve on (default 127.0.0.1:8990; port 0 picks a free one)")
    p.add_argument("--credentials", metavar="FILE",
                   help='JSON file {"access_keys": {"ID": "SECRET" | {"secret": S, "security_token": T, '
                        '"expiration": UNIX_TIME}}}. Also read from env %s (same JSON); the file wins '
                        'for ids in both. At least one key is required.' % ENV_KEYS)
    p.add_argument("--world", metavar="FILE", help="world definition (default: world.json beside this module)")
    p.add_argument("--state-file", metavar="PATH",
                   help="persist instances, ClientTokens and counters here (atomic rewrite on every change, "
                        "reloaded at start); without it state lives in memory only")
    p.add_argument("--time-scale", type=float, default=1.0, metavar="F",
                   help="multiply every state-machine delay by F (default 1.0; tests use e.g. 0.05)")
    for name, default in sorted(DEFAULT_DELAYS.items()):
        p.add_argument("--%s-delay" % name, type=float, default=default, metavar="SEC",
                       help="seconds an instance stays %s before scaling (default %s)" % (name.capitalize(), default))
    p.add_argument("--backend", choices=("none", "docker"), default="none",
                   help="what backs an instance: none (API state only) or docker (one container per instance)")
    p.add_argument("--node-image", metavar="IMAGE", help="docker backend: image every instance runs")
    p.add_argument("--docker-run-args", default="[]", metavar="JSON",
                   help='docker backend: JSON list of extra "docker run" arguments placed before the image, '
                        'e.g. ["--network", "lab", "--cap-add", "NET_ADMIN"]')
    p.add_argument("--container-prefix", default="ecs-", help="docker backend: container name prefix (default ecs-)")
    p.add_argument("--docker-bin", default="docker", help="docker backend: docker CLI to run (default docker)")
    p.add_argument("--backend-workers", type=int, default=4,
                   help="threads running backend operations (serialised per instance; default 4)")
    p.add_argument("--throttling-rate", type=_rate, default=0.0, help="initial fault: share of calls answered Throttling")
    p.add_argument("--error-5xx-rate", type=_rate, default=0.0,
                   help="initial fault: share of calls answered ServiceUnavailable (503) or InternalError (500)")
    p.add_argument("--latency-ms", type=int, default=0, help="initial fault: delay added to every matching call")
    p.add_argument("--fault-actions", default="", metavar="A,B",
                   help="initial faults apply to these actions only (comma separated; default all)")
    p.add_argument("--fault-seed", type=int, default=None, help="seed for fault decisions (reproducible runs)")
    p.add_argument("--quiet", action="store_true", help="no per-request log lines")
    return p


def load_credentials(path):
    keys = {}
    env = os.environ.get(ENV_KEYS)
    if env:
        keys.update(json.loads(env).get("access_keys", {}))
    if path:
        with open(path, encoding="utf-8") as fh:
            keys.update(json.load(fh).get("access_keys", {}))
    return {"access_keys": keys}


def main(argv=None):
    args = build_parser().parse_args(argv)
    logging.basicConfig(stream=sys.stderr, level=logging.INFO,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if args.quiet:
        logging.getLogger("ecs_emulator.access").setLevel(logging.WARNING)
    credentials = load_credentials(args.credentials)
    if not credentials["access_keys"]:
        sys.exit("no access keys: give --credentials FILE or set %s" % ENV_KEYS)
    faults = {}
    if args.throttling_rate:
        faults["throttling_rate"] = args.throttling_rate
    if args.error_5xx_rate:
        faults["error_5xx_rate"] = args.error_5xx_rate
    if args.latency_ms:
        faults["latency_ms"] = args.latency_ms
    if args.fault_actions:
        faults["actions"] = [a.strip() for a in args.fault_actions.split(",") if a.strip()]
    if args.fault_seed is not None:
        faults["seed"] = args.fault_seed
    try:
        backend = make_backend(args.backend, node_image=args.node_image, run_args=args.docker_run_args,
                               prefix=args.container_prefix, docker_bin=args.docker_bin)
        world = World.load(args.world)
        emulator = Emulator(credentials, listen=args.listen, world=world, backend=backend,
                            state_file=args.state_file, time_scale=args.time_scale,
                            delays={"pending": args.pending_delay, "starting": args.starting_delay,
                                    "stopping": args.stopping_delay},
                            faults=faults, backend_workers=args.backend_workers)
    except (ValueError, OSError) as exc:
        sys.exit("ecs_emulator: %s" % exc)

    def stop(signum, frame):
        # shutdown() blocks until serve_forever returns, so call it from another thread.
        threading.Thread(target=emulator.httpd.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    logging.getLogger("ecs_emulator").info(
        "listening on http://%s (backend %s, %d access keys, state %s)", emulator.endpoint, backend.name,
        len(emulator.credentials), args.state_file or "in memory")
    try:
        emulator.serve_forever(poll_interval=0.1)
    finally:
        emulator.httpd.server_close()
        emulator.state.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
