{#- The engine enabled and running. A change to what dockerd cannot reload
    (the settings file, the drop-in's command line, TLS material) has the engine
    restarted by the restart helper - at once on a node outside a swarm, and on a
    Swarm node never by Salt: a restart there stops the node's containers, and
    Salt runs on every node at about the same time, so the helper leaves it
    pending for playbooks/engine_restart.yml, which restarts Swarm nodes one at a
    time (drain, restart, unlock, reactivate, healthy, next). A change to
    daemon.json that touches only reloadable keys reloads the engine (SIGHUP),
    which running containers never notice. #}
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
      - file: containerops-docker-restart-settings-file-serialize
      - cmd: containerops-docker-hosts-dropin-systemd-daemon-reload
{%- if d.remote_api.enabled %}
      - file: containerops-docker-tls-ca-file-managed
      - file: containerops-docker-tls-server-cert-file-managed
      - file: containerops-docker-tls-server-key-file-managed
{%- endif %}

{#- Salt just started a stopped engine: it runs the desired settings now. #}
containerops-docker-engine-started-with-desired-settings-cmd-run:
  cmd.run:
    - name: {{ d.restart_helper }} applied
    - onchanges:
      - service: containerops-docker-engine-service-running
    - require:
      - file: containerops-docker-restart-helper-file-managed

containerops-docker-engine-restart-cmd-run:
  cmd.run:
    - name: {{ d.restart_helper }} apply
    - stateful: true
    - unless: test "$({{ d.restart_helper }} status)" = applied
    - require:
      - service: containerops-docker-engine-service-running
      - cmd: containerops-docker-engine-started-with-desired-settings-cmd-run
      - file: containerops-docker-restart-helper-file-managed

containerops-docker-engine-service-reloaded-on-config-change:
  service.running:
    - name: {{ d.service }}
    - reload: true
    - require:
      - service: containerops-docker-engine-service-running
    - watch:
      - file: containerops-docker-daemon-json-file-serialize
