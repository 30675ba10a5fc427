"""The ECS emulator is the lab's Aliyun: instances are SSH-reachable nodes at their private IP."""
import pytest
from aliyunsdkecs.request.v20140526.StartInstancesRequest import StartInstancesRequest
from aliyunsdkecs.request.v20140526.StopInstancesRequest import StopInstancesRequest

from labhelpers import (
    delete_ecs_instances,
    docker_state,
    ecs_caller,
    ecs_instance,
    run_node_instance,
    ssh,
    wait_for_ssh,
    wait_until,
)

pytestmark = pytest.mark.beside_fleet   # the tests' own ECS key and instances, not the fleet: beside its tests


def test_instance_is_a_node_reachable_at_its_private_ip(lab):
    call = ecs_caller(lab)
    instance_id, ip = run_node_instance(lab, call, "lab-test-ecs1", 247)
    container = lab["ecs"]["container_prefix"] + instance_id

    def status():
        # Not listed for the first seconds (ECS lists a new instance late): no status yet.
        return (ecs_instance(call, instance_id) or {}).get("Status")

    try:
        wait_until(lambda: status() == "Running", 60, what="Running")
        assert ecs_instance(call, instance_id)["VpcAttributes"]["PrivateIpAddress"]["IpAddress"] == [ip]
        assert wait_for_ssh(lab, ip) == "lab-test-ecs1"
        environ = ssh(lab, ip, "tr '\\0' '\\n' </proc/1/environ").stdout
        assert f"ECS_INSTANCE_ID={instance_id}" in environ

        call(StopInstancesRequest, InstanceIds=[instance_id])
        wait_until(lambda: status() == "Stopped", 60, what="Stopped")
        assert docker_state(container) == "exited"

        call(StartInstancesRequest, InstanceIds=[instance_id])
        wait_until(lambda: status() == "Running", 60, what="Running again")
        assert wait_for_ssh(lab, ip) == "lab-test-ecs1"
    finally:
        delete_ecs_instances(call, [instance_id])
    wait_until(lambda: ecs_instance(call, instance_id) is None, 30, what="instance deleted")
    wait_until(lambda: docker_state(container) is None, 30, what="container removed")
