#!/usr/bin/env python
"""Run a command with only the environment it needs.

usage: clean_env.py COMMAND [ARG ...]

The controller's environment often holds cloud credentials (VMWARE_PASSWORD,
ALICLOUD_SECRET_KEY, vault passwords ...) that a long-lived salt-master or a pip
build must not inherit: a child keeps them for its whole life, readable in
/proc/PID/environ and by everything it starts. Only the variables that locate
programs and reach a package index are passed on (CONTAINEROPS_ENV_KEEP, a space-
separated list of extra names, adds to them).
"""
import os
import re
import sys

KEEP = re.compile(r"^(PATH|HOME|USER|LOGNAME|LANG|LANGUAGE|LC_[A-Z]+|TZ|TMPDIR|"
                  r"(HTTPS?|NO|ALL)_PROXY|(https?|no|all)_proxy|"
                  r"PIP_(INDEX_URL|EXTRA_INDEX_URL|FIND_LINKS|TRUSTED_HOST|CERT|CACHE_DIR|NO_CACHE_DIR|CONFIG_FILE)|"
                  r"SSL_CERT_FILE|SSL_CERT_DIR|REQUESTS_CA_BUNDLE)$")


def clean(environ):
    extra = set((environ.get("CONTAINEROPS_ENV_KEEP") or "").split())
    return dict((k, v) for k, v in environ.items() if KEEP.match(k) or k in extra)


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: clean_env.py COMMAND [ARG ...]")
    os.execvpe(sys.argv[1], sys.argv[1:], clean(os.environ))


if __name__ == "__main__":
    main()
