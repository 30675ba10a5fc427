"""A bool variable of a role set with -e (`-e swarm_remove_departed=false`, an AWX survey) arrives as the
string 'false', which is true in a Jinja `and`/`not` and a broken conditional in `when`. Every expression of
the roles and playbooks that decides by such a variable reads it through `| bool`; a module parameter that is
the variable alone is converted by the module."""
import pathlib

import jinja2
import jinja2.nodes
import pytest
import yaml

REPO = pathlib.Path(__file__).resolve().parents[3]
CONDITIONS = {"when", "that", "failed_when", "changed_when", "until"}


def bool_vars():
    names = set()
    for spec in REPO.glob("roles/*/meta/argument_specs.yml"):
        for entry in (yaml.safe_load(spec.read_text()).get("argument_specs") or {}).values():
            names.update(k for k, v in (entry.get("options") or {}).items() if v.get("type") == "bool")
    return names


def templates(node, key=None):
    """(text, is a bare condition) for each Jinja string of a YAML document."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield from templates(v, k)
    elif isinstance(node, list):
        for v in node:
            yield from templates(v, key)
    elif isinstance(node, str):
        if key in CONDITIONS:
            yield node, True
        elif "{{" in node or "{%" in node:
            yield node, False


def unfiltered(text, condition, names):
    """The names of `names` that the template reads other than through `| bool`."""
    env = jinja2.Environment()
    tree = env.parse("{{ " + text + " }}" if condition else text)
    filtered = set()
    for f in tree.find_all(jinja2.nodes.Filter):
        if f.name == "bool":
            node = f.node
            while isinstance(node, jinja2.nodes.Filter) and node.name in ("default", "d"):   # var | default(x) | bool
                node = node.node
            filtered.add(id(node))
    body = tree.body
    # "{{ var }}" and nothing else: a module parameter, which the module converts.
    alone = (not condition and len(body) == 1 and isinstance(body[0], jinja2.nodes.Output)
             and len(body[0].nodes) == 1 and isinstance(body[0].nodes[0], jinja2.nodes.Name))
    return sorted({n.name for n in tree.find_all(jinja2.nodes.Name)
                   if n.name in names and id(n) not in filtered and not alone})


FILES = sorted(p for p in [*REPO.glob("roles/*/tasks/*.yml"), *REPO.glob("roles/*/vars/*.yml"),
                           *REPO.glob("roles/*/handlers/*.yml"), *REPO.glob("playbooks/*.yml")])


@pytest.mark.filterwarnings("ignore::DeprecationWarning")    # the lexer on regexes in string literals
@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_bool_variables_are_read_through_the_bool_filter(path):
    names = bool_vars()
    found = []
    for text, condition in templates(yaml.safe_load(path.read_text())):
        bad = unfiltered(text, condition, names)
        if bad:
            found.append(f"{', '.join(bad)} in: {text.strip()[:160]}")
    assert not found, "\n".join(found)


def test_the_check_finds_a_bool_variable_used_bare():
    names = {"swarm_autolock"}
    assert unfiltered("swarm_autolock and x | length == 0", True, names) == ["swarm_autolock"]
    assert unfiltered("{{ 'a' if not swarm_autolock else 'b' }}", False, names) == ["swarm_autolock"]
    assert unfiltered("swarm_autolock | bool and x", True, names) == []
    assert unfiltered("swarm_autolock | default(false) | bool", True, names) == []
    assert unfiltered("swarm_autolock | default(false)", True, names) == ["swarm_autolock"]
    assert unfiltered("{{ swarm_autolock }}", False, names) == []
