"""A gate (tests/gate_fixture.py) with a forge connection named `forge`
beside its git one: the token and webhook secret in files next to
gateq.yaml, as an operator keeps them."""
from __future__ import annotations

import os
import re

from .hooks import SECRET
from .standin import TOKEN

STATUS_URL = "https://gate.example.org/status"
DRIVER = {"github": "github", "gitea": "gitea", "forgejo": "gitea", "gitlab": "gitlab"}


def add_forge(g, flavour: str, url: str, git_url: str, name: str = "forge") -> None:
    for file, text in (("forge-token", TOKEN), ("webhook-secret", SECRET)):
        with open(os.path.join(g.config, file), "w") as f:
            f.write(text + "\n")
        os.chmod(os.path.join(g.config, file), 0o600)
    path = os.path.join(g.config, "gateq.yaml")
    with open(path) as f:
        text = f.read()
    entry = (f"connections:\n  {name}:\n    driver: {DRIVER[flavour]}\n    url: '{url}'\n"
             f"    git-url: '{git_url}'\n    token: forge-token\n"
             f"    webhook-secret: webhook-secret\n    reconcile-interval: 3600\n"
             f"    status-url: '{STATUS_URL}'\n")
    with open(path, "w") as f:
        f.write(text.replace("connections:\n", entry, 1))
    layout = os.path.join(g.config, "layouts", "test.yaml")     # two connections: say whose
    with open(layout) as f:
        text = f.read()
    with open(layout, "w") as f:
        f.write(re.sub(r"(\n    name: [^\n]+\n)(    queue:)", r"\1    connection: distgit\n\2", text))
