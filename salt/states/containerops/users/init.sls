{#- The platform's users: accounts, groups, SSH keys (exactly the listed keys),
    optional passwordless sudo; users listed as absent are removed. #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import containerops with context %}
{%- set u = containerops.users %}

{%- for user in u.present %}
{%-   set home = user.get('home', '/home/' ~ user.name) %}

containerops-users-{{ user.name }}-user-present:
  user.present:
    - name: {{ user.name }}
    - home: {{ home }}
    - createhome: true
    - shell: {{ user.get('shell', '/bin/bash') }}
{%-   if user.get('uid') %}
    - uid: {{ user.uid }}
{%-   endif %}
{%-   if user.get('groups') %}
    - groups: {{ user.groups | json }}
    - optional_groups: {{ user.groups | json }}
{%-   endif %}

containerops-users-{{ user.name }}-ssh-dir-directory-managed:
  file.directory:
    - name: {{ home }}/.ssh
    - user: {{ user.name }}
    - group: {{ user.name }}
    - mode: '0700'
    - require:
      - user: containerops-users-{{ user.name }}-user-present

containerops-users-{{ user.name }}-authorized-keys-file-managed:
  file.managed:
    - name: {{ home }}/.ssh/authorized_keys
    - user: {{ user.name }}
    - group: {{ user.name }}
    - mode: '0600'
    - contents: |
        # Managed by Salt (containerops.users): exactly these keys.
{%-   for key in user.get('ssh_keys', []) %}
        {{ key }}
{%-   endfor %}
    - require:
      - file: containerops-users-{{ user.name }}-ssh-dir-directory-managed

{%-   if user.get('sudo') %}

containerops-users-{{ user.name }}-sudoers-file-managed:
  file.managed:
    - name: {{ u.sudoers_dir }}/containerops-{{ user.name }}
    - makedirs: true
    - mode: '0440'
    - contents: |
        {{ user.name }} ALL=(ALL) NOPASSWD:ALL
{%-   else %}

containerops-users-{{ user.name }}-sudoers-file-absent:
  file.absent:
    - name: {{ u.sudoers_dir }}/containerops-{{ user.name }}
{%-   endif %}
{%- endfor %}

{%- for name in u.absent %}

containerops-users-{{ name }}-user-absent:
  user.absent:
    - name: {{ name }}
    - purge: true

containerops-users-{{ name }}-sudoers-file-absent:
  file.absent:
    - name: {{ u.sudoers_dir }}/containerops-{{ name }}
{%- endfor %}

{%- if not u.present and not u.absent %}

containerops-users-none-listed:
  test.nop:
    - name: no platform users in pillar
{%- endif %}
