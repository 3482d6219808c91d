"""The scheduling core stays pure: no I/O or clock modules, so the simulator
and replay run the very same decisions the engine makes."""
import ast
import pathlib

import pytest

CORE = pathlib.Path(__file__).resolve().parent.parent / "gateq" / "core"
FORBIDDEN = {"os", "subprocess", "time", "datetime", "sqlite3", "socket", "random", "threading",
             "shutil", "git", "kazoo", "paramiko", "io", "pathlib", "signal"}


def imported_modules(path: pathlib.Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add(node.module.split(".")[0])
        elif isinstance(node, ast.ImportFrom) and node.level > 1:
            names.add("gateq." + (node.module or ""))
    return names


@pytest.mark.parametrize("module", sorted(p.name for p in CORE.glob("*.py")))
def test_core_module_imports_no_io(module):
    imported = imported_modules(CORE / module)
    assert not imported & FORBIDDEN, f"gateq/core/{module} imports {imported & FORBIDDEN}"
    outside = {m for m in imported if m.startswith("gateq.") and m != "gateq.config.model"}
    assert not outside, f"gateq/core/{module} reaches outside the core: {outside}"
