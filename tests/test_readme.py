"""The README's quick start works as written on the directory `make demo` leaves."""
import contextlib
import io
import json
import os
import re
import shlex

import pytest

from gateq.cli import main as gateq_main
from gateq.demo import main as demo_main

README = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md")


def quick_start_commands() -> list[list[str]]:
    text = open(README).read()
    section = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, re.S).group(1)
    commands = []
    for line in block.splitlines():
        words = shlex.split(line, comments=True)
        if words:
            assert words[:3] == [".venv/bin/gateq", "-c", "demo"], line
            commands.append(words[3:])
    return commands


@pytest.mark.skipif(not os.path.exists("/usr/bin/rpmbuild") and os.environ.get("CI") != "true",
                    reason="the demo builds rpm packages")
def test_the_quick_start_works_as_written_on_the_demo(tmp_path):
    demo = str(tmp_path / "demo")
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        assert demo_main([demo]) == 0
    commands = quick_start_commands()
    assert commands[1][:1] == ["event"]
    for words in commands:
        out = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()) as err:
            rc = gateq_main(["-c", demo, *words])
        assert rc == 0, (words, err.getvalue())
    results = json.loads(out.getvalue())            # the last command: results --json
    mine = [r for r in results if r["change"] == "my-fix" and r["pipeline"] == "gate"]
    assert [r["result"] for r in mine] == ["merged"]
