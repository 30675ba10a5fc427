# -*- coding: utf-8 -*-
# Copyright: containerops.platform developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment:
    # Connection options shared by every ECS module and the ECS inventory plugin.
    # The environment is read by the collection's ECS client itself (not by Ansible),
    # so that an option set in a task or config always beats an exported variable.
    DOCUMENTATION = r"""
options:
  access_key:
    description:
      - Alibaba Cloud AccessKey ID.
      - "Credentials are taken from the first of: O(access_key) + O(secret_key); O(profile);
        E(ALICLOUD_ACCESS_KEY) (or E(ALICLOUD_ACCESS_KEY_ID)) + E(ALICLOUD_SECRET_KEY)
        (or E(ALICLOUD_SECRET_ACCESS_KEY)); E(ALICLOUD_PROFILE), or the C(current) profile of
        O(shared_credentials_file) when that file exists."
    type: str
    aliases: [access_key_id]
  secret_key:
    description:
      - Alibaba Cloud AccessKey secret; goes with O(access_key).
      - Falls back to E(ALICLOUD_SECRET_KEY) / E(ALICLOUD_SECRET_ACCESS_KEY) with the environment's key.
    type: str
    aliases: [access_key_secret]
  security_token:
    description:
      - STS security token, for temporary (STS) keys.
      - Falls back to E(ALICLOUD_SECURITY_TOKEN).
    type: str
  profile:
    description:
      - Name of a profile in the aliyun-cli configuration file O(shared_credentials_file).
      - Profiles of mode C(AK) and C(StsToken) are supported. The profile's C(region_id) is the
        default region.
      - Falls back to E(ALICLOUD_PROFILE) when no keys are given.
    type: str
  shared_credentials_file:
    description:
      - Path of the aliyun-cli configuration file (JSON with C(current) and C(profiles)).
      - Falls back to E(ALICLOUD_SHARED_CREDENTIALS_FILE), then C(~/.aliyun/config.json).
      - C(~) is expanded. In an inventory source, a relative path is relative to the directory of that
        source file; in a module, to the current directory.
    type: str
  region:
    description:
      - Region id, for example C(cn-hangzhou).
      - Falls back to E(ALICLOUD_REGION) / E(ALICLOUD_REGION_ID), then the profile's C(region_id).
    type: str
    aliases: [region_id]
  endpoint:
    description:
      - ECS API endpoint to use instead of Alibaba Cloud's public ones, for Apsara Stack, a private
        endpoint or a local emulator.
      - C(host[:port]) or a URL C(https://host[:port]) / C(http://host[:port]). A bare host is reached over
        https, except loopback hosts (C(127.0.0.1), C(localhost)), which are reached over http.
      - Plain http to a host that is not loopback is refused unless O(allow_http=true).
      - May contain C({region}), replaced with the region id; or be a dictionary region id -> endpoint. A region
        the dictionary has no entry for is an error; a C("*") entry serves every region not named, and the value
        C(public) sends a region to Alibaba Cloud's public endpoint.
      - Falls back to E(ALICLOUD_ECS_ENDPOINT). Unset, the SDK's public endpoint for the region is used, over https.
      - The SDK honours E(HTTP_PROXY)/E(HTTPS_PROXY); unlike the SDK alone, E(NO_PROXY) and loopback
        endpoints bypass the proxy.
    type: raw
  allow_http:
    description:
      - Allow an C(http://) O(endpoint) on a host that is not loopback. Requests are signed, so the secret key
        itself is not sent, but the STS token, user data and every answer travel unencrypted and can be altered
        on the way. Only for a network path you trust.
    type: bool
    default: false
  validate_certs:
    description:
      - Verify the TLS certificate of an https endpoint (against O(ca_bundle) when given, else the CA
        bundle of the SDK's HTTP library).
      - Set to V(false) only for a throw-away test endpoint; anyone on the path could then read and change
        the traffic.
    type: bool
    default: true
  ca_bundle:
    description:
      - Path of a PEM file with the CA certificate(s) that signed the endpoint's certificate, for a private
        endpoint signed by a private CA.
      - Falls back to E(ALICLOUD_CA_BUNDLE), then E(ALIBABA_CLOUD_CA_BUNDLE) (the SDK's variable).
      - C(~) is expanded; in an inventory source, a relative path is relative to the directory of that source file.
      - The endpoint must be written C(https://...); a CA bundle with a plain http endpoint is an error.
    type: str
requirements:
  - aliyun-python-sdk-core >= 2.13
  - aliyun-python-sdk-ecs >= 4.18
notes:
  - API calls that fail with C(Throttling), C(ServiceUnavailable), C(InternalError), another 5xx or a
    connection error are retried with exponential backoff and full jitter (at most 10 attempts and
    120 seconds per call); the SDK's own retries are off.
"""
