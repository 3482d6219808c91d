"""What ships validates, and what validates is documented: etc/gateq.yaml
with each example layout (as `make demo` lays them out, with the
repositories they name), and every attribute in docs/configuration.md."""
from __future__ import annotations

import os
import re
import shutil

import pytest
from voluptuous import UNDEFINED, All, Marker, Optional

from config_fixture import make_repository, validate
from gateq.config import schema
from gateq.config.loader import load_config

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LAYOUTS = sorted(os.listdir(os.path.join(HERE, "layouts")))
DOCS = os.path.join(HERE, "docs", "configuration.md")


@pytest.mark.parametrize("layout", LAYOUTS)
def test_the_shipped_configuration_validates(tmp_path, layout):
    """The example layouts are alternatives (both define check and gate), so
    each is checked with etc/gateq.yaml alone, as gateq/demo.py does."""
    os.makedirs(tmp_path / "layouts")
    shutil.copy(os.path.join(HERE, "etc", "gateq.yaml"), tmp_path / "gateq.yaml")
    shutil.copy(os.path.join(HERE, "layouts", layout), tmp_path / "layouts")
    shutil.copytree(os.path.join(HERE, "jobs"), tmp_path / "jobs")
    for project in ("nova", "ceilometer"):
        make_repository(str(tmp_path / "repos" / f"{project}.git"))
    rc, out, err = validate(tmp_path)
    assert (rc, out, err) == (0, f"{tmp_path}/gateq.yaml: configuration is valid\n", "")
    assert set(load_config(str(tmp_path)).layout.projects) == {"nova", "ceilometer"}


def attributes(validator) -> dict[str, object]:
    """The attributes a schema accepts, each with its default (REQUIRED if none)."""
    if isinstance(validator, All):
        return {k: v for part in validator.validators for k, v in attributes(part).items()}
    if hasattr(validator, "each_value"):              # named(): what each name holds
        return attributes(validator.each_value)
    if not isinstance(validator, dict):
        return {}
    return {key.schema: key.default() if isinstance(key, Optional) and key.default is not UNDEFINED
            else REQUIRED for key in validator if isinstance(key, Marker)}


REQUIRED = object()
DESCRIBED_DEFAULTS = {"slots": "the number of CPUs", "connection": "the only connection"}


def yaml_form(value) -> str:
    """A default as the docs write it: `null`, `true`, `{}`, `64M`..."""
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    return "{}" if value == {} else "[]" if value == [] else str(value)


def section(text: str, title: str) -> str:
    match = re.search(rf"^###? `{re.escape(title)}`.*?$(.*?)(?=^##)", text + "\n##", re.M | re.S)
    assert match, f"docs/configuration.md has no section `{title}`"
    return match.group(1)


def test_every_attribute_is_documented_with_its_default():
    """Each section of docs/configuration.md has a table row per attribute
    whose default column gives the schema's default."""
    with open(DOCS) as f:
        text = f.read()
    server = schema.server_schema(HERE).validators[0]
    kinds = schema.layout_schemas(schema.Names(connections=("c",)), HERE)
    sections = [(key.schema, value) for key, value in server.items()] + list(kinds.items())
    for title, validator in sections:
        body = section(text, title)
        for name, default in attributes(validator).items():
            row = re.search(rf"^\| `{re.escape(name)}` \| ([^|]*) \|", body, re.M)
            assert row, f"`{title}`: attribute `{name}` has no row in its section"
            documented = row.group(1)
            if default is REQUIRED:
                assert documented == "required", f"`{title}.{name}` is required"
            else:
                expected = DESCRIBED_DEFAULTS.get(name, f"`{yaml_form(default)}`")
                assert documented == expected, f"`{title}.{name}`: {documented}"
    assert "`noop`" in text and "[A-Za-z0-9][A-Za-z0-9._-]*" in text
