"""The shell a node runs for gateq: POSIX sh with GNU tar, grep and date,
as on any Fedora or Debian node. Every value is quoted here, once.

A build's processes carry GATEQ_NODE_BUILD=<marker> in their environment
(set for the job, not for the wrapper), so they are found however they
detach (setsid, double fork): `kill_all` signals every process of the
user whose /proc/PID/environ has it, until none is left.
"""
from __future__ import annotations

import shlex
from typing import Mapping

MARKER_VARIABLE = "GATEQ_NODE_BUILD"
EXIT_LINE = "gateq-exit"          # the wrapper's last line on stderr: status, start, end (ns)

_KILL_ALL = f"""\
kill_all() {{
  rounds=0
  while pids=$(grep -lzx "{MARKER_VARIABLE}=$marker" /proc/[0-9]*/environ 2>/dev/null \\
               | cut -d/ -f3) && [ -n "$pids" ]; do
    kill -"$1" $pids 2>/dev/null
    [ "$1" = TERM ] && return 0
    rounds=$((rounds + 1)); [ "$rounds" -ge 100 ] && return 1
    sleep 0.05
  done
}}
"""

# The job runs in the background with its output on the channel's stdout;
# a watcher reads the channel's stdin, which ends only when the connection
# does: then the job goes, and its workspace. The job's own start and end
# are taken here, on the node. The watcher is stopped only once the last
# line has gone out: if the connection is gone, writing it kills the wrapper
# (SIGPIPE) and the watcher stays to clean up.
_WRAPPER = """\
exec 3<&0
cd "$cwd" || exit 125
start=$(date +%s%N)
env "{marker_variable}=$marker" "$ws/.gateq/job" </dev/null 2>&1 3<&- &
job=$!
( while read -r _; do :; done; kill_all KILL; rm -rf "$ws" ) <&3 &
watcher=$!
exec 3<&-
wait "$job"; status=$?
end=$(date +%s%N)
kill_all KILL
echo "{exit_line} $status $start $end" >&2
kill "$watcher" 2>/dev/null
exit "$status"
"""


def _sh(script: str, **values: str) -> str:
    """`script` run by sh with `values` as its shell variables."""
    assigned = "".join(f"{name}={shlex.quote(value)}\n" for name, value in values.items())
    return "exec /bin/sh -c " + shlex.quote(assigned + script)


def run_job(ws: str, cwd: str, marker: str, env: Mapping[str, str]) -> str:
    """The wrapper that runs $ws/.gateq/job in `cwd` with `env` exported."""
    exports = "".join(f"export {name}={shlex.quote(value)}\n" for name, value in env.items())
    return _sh(exports + _KILL_ALL + _WRAPPER.format(marker_variable=MARKER_VARIABLE,
                                                    exit_line=EXIT_LINE),
               ws=ws, cwd=cwd, marker=marker)


def kill_job(marker: str, signal_name: str) -> str:
    """Signal (TERM: once; KILL: until none is left) every process of the build."""
    return _sh(_KILL_ALL + 'kill_all "$sig"\n', marker=marker, sig=signal_name)


def receive_workspace(ws: str) -> str:
    """A fresh $ws holding the tar stream on stdin (archives one after the other)."""
    return _sh('rm -rf "$ws" && mkdir -p "$ws" && tar -x -i -f - -C "$ws"\n', ws=ws)


def send_dir(ws: str, name: str) -> str:
    """$ws/NAME as a tar stream on stdout (nothing, if it is not there)."""
    return _sh('cd "$ws" && { [ ! -e "$name" ] || tar -c -f - "$name"; }\n', ws=ws, name=name)


def remove_workspace(ws: str) -> str:
    return _sh('rm -rf "$ws"\n', ws=ws)


def home() -> str:
    return _sh('printf %s "$HOME"\n')


def parse_exit_line(line: str) -> tuple[int, float] | None:
    """(status, seconds the job ran) from the wrapper's last line, if it is one."""
    parts = line.split()
    if len(parts) != 4 or parts[0] != EXIT_LINE or not all(p.isdigit() for p in parts[1:]):
        return None
    return int(parts[1]), max(0, int(parts[3]) - int(parts[2])) / 1e9
