"""git's proc-receive hook for the stand-in (run by git receive-pack as a
script, so it imports nothing of the package).

It speaks git's pkt-line protocol on stdin/stdout (githooks(5),
"proc-receive"): version and features, the pushed commands, the push
options; then it asks the stand-in what to do with each command over the
control channel named by $GERRIT_STANDIN_CONTROL, prints the stand-in's
messages to stderr (the pusher sees them as `remote:` lines) and answers
`ok <ref>` or `ng <ref> <reason>` for each command, in order.
"""
import json
import os
import socket
import sys


def read_packet(stream) -> bytes | None:
    """A pkt-line's payload; None for a flush packet."""
    size = int(stream.read(4), 16)
    return stream.read(size - 4) if size else None


def read_until_flush(stream) -> list[str]:
    lines = []
    while (payload := read_packet(stream)) is not None:
        lines.append(payload.decode().rstrip("\n"))
    return lines


def write_packets(stream, lines: list[str]) -> None:
    for line in lines:
        data = line.encode()
        stream.write(b"%04x" % (len(data) + 4) + data)
    stream.write(b"0000")
    stream.flush()


def ask_standin(request: dict) -> dict:
    host, port = os.environ["GERRIT_STANDIN_CONTROL"].rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=60) as sock:
        sock.sendall(json.dumps(request).encode() + b"\n")
        answer = json.loads(sock.makefile("rb").readline())
    if not answer["ok"]:
        raise SystemExit(f"stand-in: {answer['error']}")
    return answer["result"]


def main() -> None:
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    features = read_until_flush(stdin)[0].partition("\0")[2].split()
    write_packets(stdout, ["version=1\0push-options" if "push-options" in features else "version=1"])
    commands = [line.split(" ", 2) for line in read_until_flush(stdin)]
    options = read_until_flush(stdin) if "push-options" in features else []
    result = ask_standin({"op": "receive", "args": {
        "project": os.environ["GERRIT_STANDIN_PROJECT"], "user": os.environ["GERRIT_STANDIN_USER"],
        "commands": commands, "options": options}})
    for line in result["messages"]:
        sys.stderr.write(line + "\n")
    sys.stderr.flush()
    write_packets(stdout, [f"ok {ref}" if reason is None else f"ng {ref} {reason}"
                           for ref, reason in result["results"]])


if __name__ == "__main__":
    main()
