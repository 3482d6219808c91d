"""A Gerrit stand-in for gateq's tests: real SSH (paramiko's server side),
real git over SSH on bare repositories, Gerrit's commands and JSON shapes.
See standin.py for the test-side API and server.py for the process."""
from .standin import GerritStandIn, StandInError, Uploaded, User, new_change_id, wait_for

__all__ = ["GerritStandIn", "StandInError", "Uploaded", "User", "new_change_id", "wait_for"]
