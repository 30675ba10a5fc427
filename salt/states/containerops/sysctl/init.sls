{#- Kernel parameters: persisted in one sysctl.d file (applied at boot by
    systemd-sysctl) and set now where /proc/sys is writable.
    On a container node (the lab) kernel-global keys (vm.*, kernel.*) belong to
    the host: they are skipped with a notice and never written. Network-
    namespaced keys (net.*) are set where /proc/sys is writable; where it is
    read-only they are checked: the wanted value passes, another value fails
    with the reason. A key whose /proc/sys path needs a module (net.bridge.*
    needs br_netfilter) is skipped with a notice while that path is missing. #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import containerops with context %}
{%- set s = containerops.sysctl %}
{%- set owned = [] %}

include:
  - {{ tplroot }}.kernel_modules

{%- for key, value in s['values'] | dictsort %}
{%-   set path = '/proc/sys/' ~ key | replace('.', '/') %}
{%-   set wanted = value | string %}
{%-   set namespaced = s.namespaced_prefixes | select('in', [key[:key.find('.') + 1]]) | list | length > 0 %}
{%-   set needs = s.requires_path.get(key) %}

{%-   if containerops.in_container and not namespaced %}

containerops-sysctl-{{ key }}-skipped-host-global-in-container:
  test.show_notification:
    - text: "{{ key }} is kernel-global: on a container node it belongs to the host; not set here"

{%-   elif needs and not salt['file.directory_exists'](needs) %}

containerops-sysctl-{{ key }}-skipped-module-missing:
  test.show_notification:
    - text: "{{ key }}: {{ needs }} does not exist (its kernel module is not loaded); not set"

{%-   elif salt['file.access'](path, 'w') %}
{%-     do owned.append((key, wanted)) %}

containerops-sysctl-{{ key }}-runtime-value-set:
  cmd.run:
    - name: sysctl -q -w {{ (key ~ '=' ~ wanted) | quote }}
    - unless: test "$(sysctl -n {{ key }} | xargs)" = {{ wanted | quote }}
    - require:
      - sls: {{ tplroot }}.kernel_modules

{%-   else %}
{%-     set current = salt['cmd.run']('sysctl -n ' ~ key, python_shell=False, ignore_retcode=True) | replace('\t', ' ') %}
{%-     do owned.append((key, wanted)) %}

containerops-sysctl-{{ key }}-read-only-value-checked:
  test.configurable_test_state:
    - changes: false
    - result: {{ current == wanted }}
    - comment: "{{ key }} = {{ current }} (wanted {{ wanted }}); /proc/sys is read-only here{{ ': set it from outside (e.g. docker run --sysctl)' if current != wanted else '' }}"
{%-   endif %}
{%- endfor %}

containerops-sysctl-config-file-managed:
  file.managed:
    - name: {{ s.config }}
    - mode: '0644'
    - contents: |
        # Managed by Salt (containerops.sysctl); applied at boot by systemd-sysctl.
{%- for key, wanted in owned %}
        {{ key }} = {{ wanted }}
{%- endfor %}
