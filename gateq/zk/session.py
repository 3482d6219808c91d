"""Whether this scheduler may act on the outside world: only while its
ZooKeeper session is certain. SUSPENDED (the connection dropped; the
session may live on) stops acting at once; LOST (the session ended:
another scheduler may be active) ends this term for good, and the
scheduler starts again from the journal as a standby.

`check()` is called before every write to the shared state and before
every landing; it makes a round trip to ZooKeeper, so a process that was
stopped (SIGSTOP) past its session timeout learns it has lost before it
acts, even if kazoo's own thread has not yet told it."""
from __future__ import annotations

from kazoo.client import KazooClient, KazooState
from kazoo.exceptions import KazooException

from ..state.errors import StateError


class SessionLost(StateError):
    """This term is over: the session is in doubt or ended."""


class SessionWatch:
    """Invariant: `acting` is True only between begin() and the first
    SUSPENDED or LOST after it, and within one ZooKeeper session."""

    def __init__(self, client: KazooClient, where: str):
        self.client, self.where = client, where
        self.acting = False
        self.session: int | None = None
        client.add_listener(self._changed)

    def _changed(self, state: KazooState) -> None:
        if state in (KazooState.SUSPENDED, KazooState.LOST):
            self.acting = False              # kazoo's thread: no blocking call here

    def begin(self, lock_node: str) -> None:
        self.session, self.lock_node = self.client.client_id[0], lock_node
        self.acting = True

    def check(self) -> None:
        """Raise SessionLost unless this term may still act (a round trip)."""
        if not self.acting:
            raise SessionLost(f"{self.where}: the session is in doubt: this scheduler stops acting")
        try:
            held = self.client.exists(self.lock_node) is not None
        except KazooException as exc:
            self.acting = False
            raise SessionLost(f"{self.where}: the session is in doubt ({type(exc).__name__}): "
                              "this scheduler stops acting") from None
        if not held or self.client.client_id[0] != self.session:
            self.acting = False
            raise SessionLost(f"{self.where}: the session ended: another scheduler may be active")
