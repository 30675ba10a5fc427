# The highstate of every platform node. One formula, `containerops`, with one
# directory per concern; its settings come from pillar `containerops:`, which
# Ansible renders from inventory (roles/salt_bootstrap).
base:
  '*':
    - containerops
