"""Every plugin's DOCUMENTATION, EXAMPLES and RETURN is YAML (inventory EXAMPLES may hold several
documents split by ---): ansible-doc shows them, and ansible-test's validate-modules checks
modules only."""
import ast
import pathlib

import pytest
import yaml

REPO = pathlib.Path(__file__).resolve().parents[3]
# module_utils are libraries, not plugins: they carry no documentation.
PLUGINS = sorted(p.relative_to(REPO) for p in (REPO / "plugins").glob("*/*.py")
                 if p.parent.name != "module_utils" and p.name != "__init__.py")
DOC_NAMES = ("DOCUMENTATION", "EXAMPLES", "RETURN")


def doc_strings(path):
    """(name, text) of each documentation string assigned at module or class level."""
    tree = ast.parse((REPO / path).read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name) \
                and node.targets[0].id in DOC_NAMES and isinstance(node.value, ast.Constant):
            yield node.targets[0].id, node.value.value


@pytest.mark.parametrize("path", PLUGINS, ids=str)
def test_documentation_strings_parse_as_yaml(path):
    found = list(doc_strings(path))
    for name, text in found:
        documents = [d for d in yaml.safe_load_all(text) if d is not None]
        assert documents, "%s: %s is empty" % (path, name)
    if path.parts[1] in ("modules", "inventory"):
        assert {"DOCUMENTATION", "EXAMPLES"} <= {name for name, _text in found}, path
