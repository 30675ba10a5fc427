{#- The engine enabled and running. A change to a setting dockerd cannot
    reload (the fingerprint file, the drop-in, TLS material) restarts it; a
    change to daemon.json that touches only reloadable keys (live-restore,
    registry mirrors, insecure registries, ...) reloads it with SIGHUP, so
    running containers never notice. With live-restore on, even a restart
    leaves containers running. #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import containerops with context %}
{%- set d = containerops.docker %}

include:
  - {{ tplroot }}.docker.config

containerops-docker-engine-service-running:
  service.running:
    - name: {{ d.service }}
    - enable: true
    - require:
      - sls: {{ tplroot }}.docker.package
      - file: containerops-docker-daemon-json-file-serialize
      - cmd: containerops-docker-hosts-dropin-systemd-daemon-reload
    - watch:
      - file: containerops-docker-restart-settings-file-serialize
      - file: containerops-docker-hosts-dropin-file-managed
{%- if d.remote_api.enabled %}
      - file: containerops-docker-tls-ca-file-managed
      - file: containerops-docker-tls-server-cert-file-managed
      - file: containerops-docker-tls-server-key-file-managed
{%- endif %}

containerops-docker-engine-service-reloaded-on-config-change:
  service.running:
    - name: {{ d.service }}
    - reload: true
    - require:
      - service: containerops-docker-engine-service-running
    - watch:
      - file: containerops-docker-daemon-json-file-serialize
