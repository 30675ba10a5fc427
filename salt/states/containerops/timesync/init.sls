{#- Time sync with systemd-timesyncd (default) or chrony: installed, configured,
    enabled, and running where it can be. A container cannot set the clock:
    the daemons refuse to start there (systemd-timesyncd has
    ConditionVirtualization=!container), so on a container node the service is
    installed and enabled but not required to run; the host keeps the time. #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import containerops with context %}
{%- set t = containerops.timesync %}
{%- set p = t.providers[t.provider] %}
{%- set others = t.providers | dictsort | rejectattr('0', 'equalto', t.provider) | map(attribute='1') | list %}

containerops-timesync-{{ t.provider }}-pkg-installed:
  pkg.installed:
    - name: {{ p.pkg }}

containerops-timesync-{{ t.provider }}-config-file-managed:
  file.managed:
    - name: {{ p.config }}
    - makedirs: true
    - mode: '0644'
    - contents: |
        # Managed by Salt (containerops.timesync)
{%- if t.provider == 'systemd-timesyncd' %}
        [Time]
{%-   if t.servers %}
        NTP={{ t.servers | join(' ') }}
{%-   endif %}
{%- else %}
{%-   for server in t.servers %}
        server {{ server }} iburst
{%-   endfor %}
{%- endif %}
    - require:
      - pkg: containerops-timesync-{{ t.provider }}-pkg-installed

{%- if containerops.in_container %}

containerops-timesync-{{ t.provider }}-service-enabled:
  service.enabled:
    - name: {{ p.service }}
    - require:
      - pkg: containerops-timesync-{{ t.provider }}-pkg-installed

containerops-timesync-{{ t.provider }}-not-run-in-container:
  test.show_notification:
    - text: "{{ p.service }} is installed and enabled; a container node cannot set the clock, the host keeps it"
{%- else %}

containerops-timesync-{{ t.provider }}-service-running:
  service.running:
    - name: {{ p.service }}
    - enable: true
    - watch:
      - file: containerops-timesync-{{ t.provider }}-config-file-managed
{%- endif %}
