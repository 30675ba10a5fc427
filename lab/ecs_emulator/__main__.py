"""Command line: PYTHONPATH=lab python -m ecs_emulator --listen 127.0.0.1:8990 --credentials creds.json"""

import argparse
import json
import logging
import os
import signal
import sys
import threading

from .api import TAG_FILTER_MAX
from .backend import make_backend
from .faults import PHASES
from .server import Emulator
from .state import CLIENT_TOKEN_WINDOW, DEFAULT_DELAYS, World

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


def _seconds(value):
    seconds = float(value)
    if seconds < 0:
        raise argparse.ArgumentTypeError("seconds are >= 0")
    return seconds


def build_parser():
    p = argparse.ArgumentParser(
        prog="python -m ecs_emulator",
        description="Emulates the Alibaba Cloud ECS OpenAPI 2014-05-26 (RPC style; signatures V1 HMAC-SHA1 and "
                    "V3 ACS3-HMAC-SHA256) for lab use. Responses are always JSON (Format=XML is not supported). "
                    "Admin endpoints (unsigned, loopback clients only): GET|PUT|POST|DELETE /_emulator/faults, "
                    "GET /_emulator/instances, GET|DELETE /_emulator/stats, GET /_emulator/health. "
                    "README.md beside the module explains every setting.")
    p.add_argument("--listen", type=_listen, default=("127.0.0.1", 8990), metavar="HOST:PORT",
                   help="address to serve HTTP on (default 127.0.0.1:8990; port 0 picks a free one)")
    p.add_argument("--tls-listen", type=_listen, metavar="HOST:PORT",
                   help="also serve the API over HTTPS here (needs --tls-cert and --tls-key)")
    p.add_argument("--tls-cert", metavar="FILE", help="PEM certificate (chain) of the HTTPS listener")
    p.add_argument("--tls-key", metavar="FILE", help="PEM private key of --tls-cert")
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
    p.add_argument("--image-map", default="{}", metavar="JSON",
                   help='docker backend: {"ImageId": "docker image"} for images (custom ones, say) that run '
                        'something other than --node-image')
    p.add_argument("--docker-run-args", default="[]", metavar="JSON",
                   help='docker backend: JSON list of extra "docker run" arguments placed before the image, '
                        'e.g. ["--network", "lab", "--cap-add", "NET_ADMIN"]')
    p.add_argument("--container-prefix", default="ecs-", help="docker backend: container name prefix (default ecs-)")
    p.add_argument("--docker-bin", default="docker", help="docker backend: docker CLI to run (default docker)")
    p.add_argument("--backend-workers", type=int, default=4,
                   help="threads running backend operations (serialised per instance; default 4)")
    p.add_argument("--list-lag", type=_seconds, default=0.0, metavar="SEC",
                   help="seconds from RunInstances until DescribeInstances / DescribeInstanceStatus list the new "
                        "instance (default 0; the lab uses 4). Also the fault setting list_lag")
    p.add_argument("--client-token-window", type=_seconds, default=CLIENT_TOKEN_WINDOW, metavar="SEC",
                   help="seconds a RunInstances ClientToken is remembered; after that the same token creates "
                        "anew (default %d; the real window is undocumented)" % CLIENT_TOKEN_WINDOW)
    p.add_argument("--tag-filter-max", type=int, default=TAG_FILTER_MAX, metavar="N",
                   help="most instances DescribeInstances answers when filtering by Tag.N (default %d, as "
                        "documented)" % TAG_FILTER_MAX)
    p.add_argument("--throttling-rate", type=_rate, default=0.0,
                   help="initial fault: share of calls answered Throttling")
    p.add_argument("--error-5xx-rate", type=_rate, default=0.0,
                   help="initial fault: share of calls answered ServiceUnavailable (503) or InternalError (500)")
    p.add_argument("--drop-rate", type=_rate, default=0.0,
                   help="initial fault: share of calls whose connection is closed without an answer")
    for kind, default in (("throttling", "before"), ("error-5xx", "random"), ("drop", "after")):
        p.add_argument("--%s-phase" % kind, choices=PHASES, default=default,
                       help="before: the call is refused, nothing happens; after: the action runs, then the "
                            "answer is lost; random: either (default %s)" % default)
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
    if args.tls_listen and not (args.tls_cert and args.tls_key):
        sys.exit("ecs_emulator: --tls-listen needs --tls-cert FILE and --tls-key FILE")
    if args.tag_filter_max < 1:
        sys.exit("ecs_emulator: --tag-filter-max must be at least 1")
    faults = {"list_lag": args.list_lag, "throttling_rate": args.throttling_rate,
              "throttling_phase": args.throttling_phase, "error_5xx_rate": args.error_5xx_rate,
              "error_5xx_phase": args.error_5xx_phase, "drop_rate": args.drop_rate, "drop_phase": args.drop_phase}
    if args.latency_ms:
        faults["latency_ms"] = args.latency_ms
    if args.fault_actions:
        faults["actions"] = [a.strip() for a in args.fault_actions.split(",") if a.strip()]
    if args.fault_seed is not None:
        faults["seed"] = args.fault_seed
    try:
        backend = make_backend(args.backend, node_image=args.node_image, run_args=args.docker_run_args,
                               prefix=args.container_prefix, docker_bin=args.docker_bin,
                               image_map=args.image_map)
        world = World.load(args.world)
        emulator = Emulator(credentials, listen=args.listen, world=world, backend=backend,
                            state_file=args.state_file, time_scale=args.time_scale,
                            delays={"pending": args.pending_delay, "starting": args.starting_delay,
                                    "stopping": args.stopping_delay},
                            faults=faults, backend_workers=args.backend_workers,
                            client_token_window=args.client_token_window, tag_filter_max=args.tag_filter_max,
                            tls_listen=args.tls_listen, tls_cert=args.tls_cert, tls_key=args.tls_key)
    except (ValueError, OSError) as exc:
        sys.exit("ecs_emulator: %s" % exc)

    def stop(signum, frame):
        # shutdown() blocks until serve_forever returns, so call it from another thread.
        threading.Thread(target=emulator.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    logging.getLogger("ecs_emulator").info(
        "listening on http://%s%s (backend %s, %d access keys, state %s, list lag %ss)", emulator.endpoint,
        " and https://%s" % emulator.tls_endpoint if emulator.tls_endpoint else "", backend.name,
        len(emulator.credentials), args.state_file or "in memory", args.list_lag)
    try:
        emulator.serve_forever(poll_interval=0.1)
    finally:
        for server in emulator.servers:
            server.server_close()
        emulator.state.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
