"""vsphere_vm's result speaks ecs_instance's words (instances, changed_instances); the names it had
before (vms, changed_vms) stay beside them with the same content until 1.0.0, and both are documented."""
import yaml

from ansible_collections.containerops.platform.plugins.module_utils._vsphere_provision import (
    DEPRECATED_KEYS,
    with_deprecated_keys,
)
from ansible_collections.containerops.platform.plugins.modules import ecs_instance, vsphere_vm

ENTRY = {"name": "web-01", "moid": "vm-42", "uuid": "u-1", "ip": "10.20.0.11", "power_state": "poweredOn",
         "state": "present", "changed": True, "created": True, "customization": "confirmed"}


def test_a_result_carries_the_new_keys_and_the_deprecated_ones_with_equal_content():
    result = with_deprecated_keys({"changed": True, "instances": [ENTRY, dict(ENTRY, name="web-02", changed=False)],
                                   "created": ["web-01"], "changed_instances": ["web-01"], "deleted": []})
    assert result["vms"] == result["instances"] and len(result["vms"]) == 2
    assert result["changed_vms"] == result["changed_instances"] == ["web-01"]


def test_a_failure_gets_the_alias_only_of_what_it_reports():
    # A failure after vCenter was reached reports the entries, not changed_instances; before, neither.
    details = with_deprecated_keys({"instances": [ENTRY], "deleted": []})
    assert details["vms"] == [ENTRY] and "changed_vms" not in details and "changed_instances" not in details
    assert with_deprecated_keys({"errors": ["name: required"]}) == {"errors": ["name: required"]}


def description(doc):
    text = doc["description"]
    return " ".join(text) if isinstance(text, list) else text


def test_return_documents_the_new_keys_and_the_old_ones_as_deprecated_until_1_0_0():
    documented = yaml.safe_load(vsphere_vm.RETURN)
    for old, new in DEPRECATED_KEYS:
        assert "deprecated" not in description(documented[new]).lower()
        text = description(documented[old])
        assert "Deprecated alias of RV(%s)" % new in text and "removed in 1.0.0" in text, text
        assert (documented[old]["type"], documented[old].get("elements")) == \
            (documented[new]["type"], documented[new].get("elements"))


def test_both_machine_modules_name_their_shared_results_alike():
    ecs, vs = yaml.safe_load(ecs_instance.RETURN), yaml.safe_load(vsphere_vm.RETURN)
    for key in ("instances", "created", "changed_instances", "node_addresses"):
        assert key in ecs and key in vs, key
