"""What backs an instance.

Backends are called only from the state machine's worker threads, one operation
at a time per instance, never from an HTTP request thread. An operation that
fails raises BackendError; the state machine then puts the instance in Stopped.
All operations must be idempotent (they are replayed after an emulator restart).
"""

import abc
import json
import logging
import subprocess

log = logging.getLogger("ecs_emulator.backend")


class BackendError(Exception):
    pass


class Backend(abc.ABC):
    """What every backend provides; reboot and describe have defaults."""

    name = "abstract"

    @abc.abstractmethod
    def start(self, instance):
        """Make the instance run: create it on first start, start it afterwards."""

    @abc.abstractmethod
    def stop(self, instance):
        """Stop the instance; a missing one is fine."""

    @abc.abstractmethod
    def remove(self, instance):
        """Destroy the instance and everything it holds; missing is fine."""

    def reboot(self, instance):
        self.stop(instance)
        self.start(instance)

    def describe(self):
        return {"name": self.name}


class NoneBackend(Backend):
    """Nothing behind the instances: only the API state changes (unit tests)."""

    name = "none"

    def start(self, instance):
        pass

    def stop(self, instance):
        pass

    def remove(self, instance):
        pass

    def reboot(self, instance):
        pass


class DockerBackend(Backend):
    """One container per instance, driven with the docker CLI.

    The container is named <prefix><InstanceId>; its address is the instance's
    private IP, so --docker-run-args must attach it to a user-defined network
    that covers the vSwitch CIDRs (docker refuses --ip on the default bridge).
    """

    name = "docker"

    def __init__(self, image, run_args=None, prefix="ecs-", docker_bin="docker", timeout=180, image_map=None):
        if not image:
            raise ValueError("the docker backend needs --node-image")
        self.image = image
        # ImageId -> docker image, for images whose disk differs from the plain node (a baked one)
        self.image_map = dict(image_map or {})
        self.run_args = list(run_args or [])
        self.prefix = prefix
        self.docker_bin = docker_bin
        self.timeout = timeout

    def describe(self):
        return {"name": self.name, "image": self.image, "image_map": self.image_map, "run_args": self.run_args,
                "prefix": self.prefix, "docker_bin": self.docker_bin}

    def container_name(self, instance):
        return self.prefix + instance["InstanceId"]

    def _docker(self, *args, check=True):
        cmd = [self.docker_bin] + list(args)
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=self.timeout, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise BackendError("%s %s: %s" % (self.docker_bin, args[0], exc))
        if check and proc.returncode != 0:
            raise BackendError("%s %s failed (rc=%d): %s" % (
                self.docker_bin, args[0], proc.returncode, proc.stderr.strip()[-2000:]))
        return proc

    def _state(self, name):
        """None if the container does not exist, else True/False for running."""
        proc = self._docker("container", "inspect", "-f", "{{.State.Running}}", name, check=False)
        if proc.returncode != 0:
            if "no such" in proc.stderr.lower():
                return None
            raise BackendError("docker inspect %s failed: %s" % (name, proc.stderr.strip()[-2000:]))
        return proc.stdout.strip() == "true"

    def run_command(self, instance):
        """The docker run argv for a new instance (kept separate so tests can check it)."""
        name = self.container_name(instance)
        return [
            "run", "-d", "--name", name,
            "--hostname", instance.get("HostName") or instance["InstanceId"],
            "--ip", instance["PrivateIpAddress"],
            "-e", "ECS_INSTANCE_ID=" + instance["InstanceId"],
            "-e", "ECS_REGION_ID=" + instance["RegionId"],
            "-e", "ECS_ZONE_ID=" + instance["ZoneId"],
            "-e", "ECS_USERDATA=" + (instance.get("UserData") or ""),
        ] + self.run_args + [self.image_map.get(instance["ImageId"], self.image)]

    def start(self, instance):
        name = self.container_name(instance)
        state = self._state(name)
        if state is None:
            self._docker(*self.run_command(instance))
        elif not state:
            self._docker("start", name)
        # Running means the container really runs: a container whose init exits at once is a failure.
        if not self._state(name):
            logs = self._docker("logs", "--tail", "20", name, check=False)
            raise BackendError("container %s is not running after start: %s" % (
                name, (logs.stdout + logs.stderr).strip()[-2000:]))

    def stop(self, instance):
        name = self.container_name(instance)
        if self._state(name) is None:
            return
        self._docker("stop", "-t", "10", name)

    def reboot(self, instance):
        name = self.container_name(instance)
        if self._state(name) is None:
            self.start(instance)
            return
        self._docker("restart", "-t", "10", name)
        if not self._state(name):
            raise BackendError("container %s is not running after restart" % name)

    def remove(self, instance):
        name = self.container_name(instance)
        proc = self._docker("rm", "-f", "-v", name, check=False)
        if proc.returncode != 0 and "no such" not in proc.stderr.lower():
            raise BackendError("docker rm %s failed: %s" % (name, proc.stderr.strip()[-2000:]))


def make_backend(kind, node_image=None, run_args=None, prefix="ecs-", docker_bin="docker", image_map=None):
    if kind == "none":
        return NoneBackend()
    if kind == "docker":
        if isinstance(run_args, str):
            run_args = json.loads(run_args) if run_args.strip() else []
        if not isinstance(run_args, list) or not all(isinstance(a, str) for a in run_args):
            raise ValueError("--docker-run-args must be a JSON list of strings")
        if isinstance(image_map, str):
            image_map = json.loads(image_map) if image_map.strip() else {}
        if not isinstance(image_map, dict) or not all(isinstance(v, str) for v in image_map.values()):
            raise ValueError('--image-map must be a JSON object {"ImageId": "docker image"}')
        return DockerBackend(node_image, run_args, prefix, docker_bin, image_map=image_map)
    raise ValueError("unknown backend %r (none|docker)" % kind)
