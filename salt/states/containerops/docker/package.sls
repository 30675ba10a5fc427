{%- set tplroot = tpldir.split('/')[0] %}
{%- from tplroot ~ "/map.jinja" import containerops with context %}

include:
  - {{ tplroot }}.docker.repo

containerops-docker-engine-pkg-installed:
  pkg.installed:
    - pkgs: {{ containerops.docker.pkgs | json }}
    - require:
      - sls: {{ tplroot }}.docker.repo
