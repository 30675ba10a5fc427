{#- /etc/docker/daemon.json from pillar, the systemd drop-in that lets
    daemon.json own `hosts`, the remote API's TLS material, registry CAs.
    Reload-or-restart is decided here: what dockerd cannot reload (the other
    daemon.json keys, the drop-in's command line) is written to a settings file;
    the restart helper adds the TLS files' digests, and service.sls has the engine
    restarted when that differs from what the engine was last started with, and
    only reloads it (SIGHUP) when daemon.json alone changes. #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import containerops with context %}
{%- set d = containerops.docker %}
{%- set api = d.remote_api %}
{%- set config = salt['slsutil.merge']({}, d.daemon_config, strategy='recurse') %}
{%- set hosts = ['fd://'] %}
{%- if api.enabled %}
{%-   do hosts.append('tcp://' ~ api.listen ~ ':' ~ api.port) %}
{%-   do config.update({'tlsverify': True,
                        'tlscacert': d.tls_dir ~ '/ca.pem',
                        'tlscert': d.tls_dir ~ '/server-cert.pem',
                        'tlskey': d.tls_dir ~ '/server-key.pem'}) %}
{%- endif %}
{%- do config.update({'hosts': hosts}) %}
{%- set restart_settings = {'daemon': {}, 'command': d.dockerd ~ ' ' ~ d.dockerd_args} %}
{%- for key, value in config.items() if key not in d.reloadable_keys %}
{%-   do restart_settings.daemon.update({key: value}) %}
{%- endfor %}

include:
  - {{ tplroot }}.docker.package

containerops-docker-config-dir-directory-managed:
  file.directory:
    - name: {{ salt['file.dirname'](d.daemon_json) }}
    - mode: '0755'
    - require:
      - sls: {{ tplroot }}.docker.package

containerops-docker-daemon-json-file-serialize:
  file.serialize:
    - name: {{ d.daemon_json }}
    - dataset: {{ config | json }}
    - serializer: json
    - serializer_opts:
      - indent: 2
      - sort_keys: true
    - mode: '0644'
    - require:
      - file: containerops-docker-config-dir-directory-managed

containerops-docker-restart-settings-file-serialize:
  file.serialize:
    - name: {{ d.restart_settings }}
    - dataset: {{ restart_settings | json }}
    - serializer: json
    - serializer_opts:
      - sort_keys: true
    - makedirs: true
    - mode: '0644'

containerops-docker-restart-helper-file-managed:
  file.managed:
    - name: {{ d.restart_helper }}
    - source: salt://{{ tplroot }}/docker/files/engine-restart.sh.jinja
    - template: jinja
    - context:
        settings: {{ d.restart_settings | json }}
        tls_dir: {{ d.tls_dir | json }}
        service: {{ d.service | json }}
    - mode: '0755'
    - makedirs: true

containerops-docker-hosts-dropin-file-managed:
  file.managed:
    - name: {{ d.dropin }}
    - makedirs: true
    - mode: '0644'
    - contents: |
        # Managed by Salt (containerops.docker.config): daemon.json owns `hosts`.
        [Service]
        ExecStart=
        ExecStart={{ d.dockerd }} {{ d.dockerd_args }}

containerops-docker-pinned-boot-guard-file-managed:
  file.managed:
    - name: {{ d.pinned_boot_guard }}
    - source: salt://{{ tplroot }}/docker/files/pinned-boot-guard.py
    - mode: '0644'
    - makedirs: true

{#- Not watched by the engine's service: the guard matters at the next start, never worth a restart. #}
containerops-docker-pinned-boot-guard-dropin-file-managed:
  file.managed:
    - name: {{ d.pinned_boot_guard_dropin }}
    - makedirs: true
    - mode: '0644'
    - contents: |
        # Managed by Salt (containerops.docker.config): pinned instances wait for network.yml after a boot.
        [Service]
        ExecStartPre=/usr/bin/python3 {{ d.pinned_boot_guard }} {{ d.daemon_config.get('data-root', '/var/lib/docker') }} {{ d.daemon_config.get('exec-root', '/run/docker') }}

containerops-docker-hosts-dropin-systemd-daemon-reload:
  cmd.run:
    - name: systemctl daemon-reload
    - onchanges:
      - file: containerops-docker-hosts-dropin-file-managed
      - file: containerops-docker-pinned-boot-guard-dropin-file-managed

{%- if api.enabled %}

containerops-docker-tls-ca-file-managed:
  file.managed:
    - name: {{ d.tls_dir }}/ca.pem
    - makedirs: true
    - dir_mode: '0700'
    - mode: '0644'
    - show_changes: false
    - contents_pillar: containerops:docker:remote_api:ca_cert
    - require:
      - file: containerops-docker-config-dir-directory-managed

containerops-docker-tls-server-cert-file-managed:
  file.managed:
    - name: {{ d.tls_dir }}/server-cert.pem
    - makedirs: true
    - dir_mode: '0700'
    - mode: '0644'
    - show_changes: false
    - contents_pillar: containerops:docker:remote_api:server_cert
    - require:
      - file: containerops-docker-config-dir-directory-managed

containerops-docker-tls-server-key-file-managed:
  file.managed:
    - name: {{ d.tls_dir }}/server-key.pem
    - makedirs: true
    - dir_mode: '0700'
    - mode: '0600'
    - show_changes: false
    - contents_pillar: containerops:docker:remote_api:server_key
    - require:
      - file: containerops-docker-config-dir-directory-managed
{%- else %}

containerops-docker-tls-dir-file-absent:
  file.absent:
    - name: {{ d.tls_dir }}
{%- endif %}

{%- for registry, pem in d.registry_ca_certs | dictsort %}

containerops-docker-registry-ca-{{ registry | replace(':', '-') }}-file-managed:
  file.managed:
    - name: {{ d.certs_dir }}/{{ registry }}/ca.crt
    - makedirs: true
    - mode: '0644'
    - contents: {{ pem | json }}
{%- endfor %}
