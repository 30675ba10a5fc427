{#- Kernel modules the platform needs (bridge netfilter, overlay storage,
    macvlan networks): loaded now and at boot. A module whose function the
    kernel already has (loaded or built in) passes. Where it cannot be loaded
    (a container node has no /lib/modules of its own and shares the host's
    kernel) it is skipped with a notice naming the module, not failed: the
    host must provide it. #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import containerops with context %}
{%- set k = containerops.kernel_modules %}
{%- set can_load = not containerops.in_container and salt['file.directory_exists']('/lib/modules/' ~ grains.get('kernelrelease', '')) %}

containerops-kernel-modules-load-config-file-managed:
  file.managed:
    - name: {{ k.config }}
    - makedirs: true
    - mode: '0644'
    - contents: |
        # Managed by Salt (containerops.kernel_modules); loaded at boot by systemd-modules-load.
{%- for name in k.names %}
        {{ name }}
{%- endfor %}

{%- for name in k.names %}
{%-   set probe = k.probes.get(name) %}
{%-   set present = salt['file.directory_exists']('/sys/module/' ~ name) or (probe and salt['file.file_exists'](probe) or salt['file.directory_exists'](probe or '/nonexistent')) %}
{%-   if present %}

containerops-kernel-module-{{ name }}-already-in-kernel:
  test.succeed_without_changes:
    - name: "{{ name }} is in the running kernel"

{%-   elif can_load %}

containerops-kernel-module-{{ name }}-kmod-present:
  kmod.present:
    - name: {{ name }}

{%-   else %}

containerops-kernel-module-{{ name }}-skipped-cannot-load:
  test.show_notification:
    - text: "{{ name }}: not in the running kernel and cannot be loaded here ({{ 'container node: the host kernel must provide it' if containerops.in_container else 'no /lib/modules for this kernel' }})"
{%-   endif %}
{%- endfor %}
