# Pillar top: every minion gets its own file, hosts/<minion id>.sls (dots in
# the id become underscores), which Ansible renders from inventory
# (roles/salt_bootstrap). Masterless, a node holds only its own file; with a
# master, the master holds one per minion and each minion sees only its own.
base:
  '*':
    - hosts.{{ grains['id'] | replace('.', '_') }}
