"""Every route of the web service is in docs/api.md, and every metric."""
from __future__ import annotations

import os
import re

from gate_fixture import Gate
from gateq.config.loader import load_config
from gateq.web.app import make_app
from gateq.web.context import SITE

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def read(name: str) -> str:
    with open(os.path.join(HERE, "docs", name)) as f:
        return f.read()


def test_every_endpoint_is_documented(tmp_path):
    app = make_app(load_config(Gate(tmp_path).config))
    text = read("api.md")
    routes = {(r.method, r.resource.canonical) for r in app.router.routes() if r.method != "HEAD"}
    assert len(routes) > 15
    for method, path in sorted(routes):
        assert f"`{method} {path}" in text or (method == "POST" and f"`{path}`" in text), \
            f"{method} {path} is not in docs/api.md"


def test_every_metric_is_documented(tmp_path):
    from prometheus_client import generate_latest
    g = Gate(tmp_path)
    g.change("nova", "fix-1")
    g.approve("nova", "fix-1")
    g.run()
    app = make_app(load_config(g.config))
    names = set(re.findall(r"^# TYPE (\S+) (\S+)", generate_latest(
        app[SITE].metrics.registry).decode(), re.M))
    text = read("api.md")
    for name, kind in names:
        shown = name + ("_total" if kind == "counter" and not name.endswith("_total") else "")
        assert f"| `{shown}` | {kind} |" in text, shown
