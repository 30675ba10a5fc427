{#- A package repository for the engine, only where the os_family map names
    one (RHEL family: docker-ce). UNTESTED in the lab, which runs Debian only. #}
{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import containerops with context %}
{%- set repo = containerops.docker.repo %}

{%- if repo %}
containerops-docker-repo-pkgrepo-managed:
  pkgrepo.managed:
    - name: {{ repo.name }}
    - humanname: {{ repo.humanname | json }}
    - baseurl: {{ repo.baseurl | json }}
    - gpgkey: {{ repo.gpgkey | json }}
    - gpgcheck: {{ repo.gpgcheck }}
{%- else %}
containerops-docker-repo-distribution-packages-used:
  test.nop:
    - name: the engine comes from the distribution's own repositories
{%- endif %}
