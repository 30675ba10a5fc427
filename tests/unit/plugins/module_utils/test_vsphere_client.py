"""The client's plain-data parser of RetrievePropertiesEx answers (no vCenter needed)."""
import pathlib

from ansible_collections.containerops.platform.plugins.module_utils import _vsphere_client as V

REPO = str(pathlib.Path(__file__).resolve().parents[4])

ANSWER = b"""<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"
  xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<soapenv:Body><RetrievePropertiesExResponse xmlns="urn:vim25"><returnval>
 <token>page-2</token>
 <objects>
  <obj type="VirtualMachine">vm-7</obj>
  <propSet><name>name</name><val xsi:type="xsd:string">web-1</val></propSet>
  <propSet><name>config.template</name><val xsi:type="xsd:boolean">false</val></propSet>
  <propSet><name>config.hardware.numCPU</name><val xsi:type="xsd:int">4</val></propSet>
  <propSet><name>runtime.powerState</name><val xsi:type="VirtualMachinePowerState">poweredOn</val></propSet>
  <propSet><name>runtime.host</name><val xsi:type="ManagedObjectReference" type="HostSystem">host-3</val></propSet>
  <propSet><name>customValue</name><val xsi:type="ArrayOfCustomFieldValue">
    <CustomFieldValue xsi:type="CustomFieldStringValue"><key>101</key><value>manager</value></CustomFieldValue>
  </val></propSet>
  <propSet><name>config.extraConfig</name><val xsi:type="ArrayOfOptionValue">
    <OptionValue xsi:type="OptionValue"><key>guestinfo.a</key><value xsi:type="xsd:string">b</value></OptionValue>
  </val></propSet>
  <propSet><name>network</name><val xsi:type="ArrayOfManagedObjectReference">
    <ManagedObjectReference type="Network">network-7</ManagedObjectReference>
  </val></propSet>
  <propSet><name>summary.storage</name><val xsi:type="VirtualMachineStorageSummary">
    <committed>1024</committed><uncommitted>0</uncommitted><unshared>5</unshared><timestamp>2026-01-01T00:00:00Z</timestamp>
  </val></propSet>
  <propSet><name>guest.net</name><val xsi:type="ArrayOfGuestNicInfo">
    <GuestNicInfo><network>VM Network</network><ipAddress>10.0.0.5</ipAddress><connected>true</connected></GuestNicInfo>
  </val></propSet>
 </objects>
</returnval></RetrievePropertiesExResponse></soapenv:Body></soapenv:Envelope>"""


def parser():
    client = V.Client.__new__(V.Client)  # no session: only the parser is exercised
    client._types, client._known = {}, {}
    return client


def test_a_page_becomes_plain_rows_with_types_and_the_next_token():
    client = parser()
    (row,), token = client._parse_retrieve_result(ANSWER)
    assert token == "page-2"
    assert (row["moid"], row["type"], row["name"]) == ("vm-7", "VirtualMachine", "web-1")
    assert row["config.template"] is False and row["config.hardware.numCPU"] == 4
    assert row["runtime.powerState"] == "poweredOn" and row["runtime.host"] == "host-3"
    assert row["customValue"] == {101: "manager"}, "custom values keyed by the (int) field key"
    assert row["config.extraConfig"] == {"guestinfo.a": "b"}
    assert row["network"] == ["network-7"]
    assert row["summary.storage"] == {"committed": 1024, "uncommitted": 0, "unshared": 5,
                                      "timestamp": "2026-01-01T00:00:00Z"}
    nic = row["guest.net"][0]
    assert nic["ipAddress"] == ["10.0.0.5"], "an array inside a data object is a list even with one item"
    assert nic["connected"] is True and nic["network"] == "VM Network"
    # refs can be made later for every object the answer named
    assert client._types == {"vm-7": "VirtualMachine", "host-3": "HostSystem", "network-7": "Network"}


def test_an_empty_answer_has_no_rows():
    empty = (ANSWER.split(b"<returnval>", maxsplit=1)[0]
             + b"</RetrievePropertiesExResponse></soapenv:Body></soapenv:Envelope>")
    assert parser()._parse_retrieve_result(empty) == ([], None)
