"""The containerops formula's Jinja rendered the way Salt renders it, without Salt: map.jinja and an SLS
file with a given pillar and grains, for unit tests of what a node would get.

Only what the formula uses is provided: Salt's `import_yaml` tag, the `do` statement, the `json` and
`quote` filters, `salt['slsutil.merge']` (strategy recurse: mappings merged key by key, anything else -
lists too - replaced), `salt['pillar.get']`, `salt['cp.cache_file']` for files of the tree and the few
file/cmd functions an SLS asks about the node (answered from `node`)."""
import copy
import json
import os
import shlex

import jinja2
import yaml
from jinja2 import nodes
from jinja2.ext import Extension

STATES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "salt", "states")


class _ImportYaml(Extension):
    """{% import_yaml "path/in/the/tree.yaml" as name %}: name = that file, loaded."""

    tags = {"import_yaml"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        source = parser.parse_expression()
        parser.stream.expect("name:as")
        target = parser.parse_assign_target()
        return nodes.Assign(target, self.call_method("_load", [source]), lineno=lineno)

    def _load(self, source):
        text, _filename, _uptodate = self.environment.loader.get_source(self.environment, source)
        return yaml.safe_load(text)


def merge_recurse(base, update):
    merged = copy.deepcopy(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_recurse(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _pillar_get(pillar):
    def get(path, default=None):
        value = pillar
        for key in path.split(":"):
            if not isinstance(value, dict) or key not in value:
                return default
            value = value[key]
        return value
    return get


def render(template, pillar, grains=None, node=None, extra_templates=None):
    """The text `template` (a path below salt/states, e.g. containerops/docker/config.sls) renders to.

    node: answers about the node - {"dirs": [...], "files": [...], "writable": [...], "cmd": {command: output}}.
    extra_templates: {path: source} served next to the tree's files.
    """
    node = node or {}
    grains = {"id": "node-1", "os_family": "Debian", "virtual": "physical", **(grains or {})}
    loader = jinja2.ChoiceLoader([jinja2.DictLoader(extra_templates or {}), jinja2.FileSystemLoader(STATES)])
    env = jinja2.Environment(loader=loader, extensions=["jinja2.ext.do", _ImportYaml],
                             undefined=jinja2.StrictUndefined)
    env.filters["json"] = json.dumps
    env.filters["quote"] = shlex.quote

    def merge(base, update, strategy="recurse"):
        assert strategy == "recurse", strategy
        return merge_recurse(base, update)

    def cache_file(url):
        path = url[len("salt://"):]
        return path if os.path.isfile(os.path.join(STATES, path)) else ""

    salt = {
        "slsutil.merge": merge,
        "pillar.get": _pillar_get(pillar),
        "cp.cache_file": cache_file,
        "file.dirname": os.path.dirname,
        "file.directory_exists": lambda path: path in node.get("dirs", []),
        "file.file_exists": lambda path: path in node.get("files", []),
        "file.access": lambda path, mode: path in node.get("writable", []),
        "cmd.run": lambda command, **_kwargs: node.get("cmd", {}).get(command, ""),
    }
    return env.get_template(template).render(salt=salt, grains=grains, pillar=pillar,
                                             tpldir=os.path.dirname(template))


def settings(pillar, grains=None):
    """The formula's resolved settings (map.jinja's `containerops`) for this pillar."""
    probe = "containerops/_settings.jinja"
    source = '{%- from tplroot ~ "/map.jinja" import containerops with context %}{{ containerops | json }}'
    source = "{%- set tplroot = tpldir.split('/')[0] %}" + source
    return json.loads(render(probe, pillar, grains, extra_templates={probe: source}))


def sls(path, pillar, grains=None, node=None):
    """An SLS file of the formula rendered and loaded as YAML: {state id: {function: [arguments]}}."""
    return yaml.safe_load(render(path, pillar, grains, node))
