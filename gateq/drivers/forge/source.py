"""A forge's own source of events in the engine: webhooks arrive through
the web service (webhook.py, into the state's intake table), so what runs
here is reconciliation, at start and every `reconcile-interval` seconds,
handing what it finds to the engine's deliver; and the link's state for
`gateq status` (up after an answer, down with the error after none)."""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import replace
from typing import Callable, Sequence

from ..base import Deliver, DriverError, Reconciled, TriggerQuery
from ..records import ConnectionStatus, LinkState

log = logging.getLogger("gateq.engine")

Reconcile = Callable[[Sequence[TriggerQuery]], Reconciled]
RETRY_DOWN = 30.0            # seconds before asking a forge that did not answer again


class ReconcileLoop:
    def __init__(self, name: str, driver: str, reconcile: Reconcile,
                 deliver: Deliver, queries: Sequence[TriggerQuery], interval: float) -> None:
        self.name, self.driver = name, driver
        self.reconcile, self.deliver = reconcile, deliver
        self.queries = list(queries)
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self.run, name=f"reconcile {name}", daemon=True)
        self._status = ConnectionStatus(name, driver, LinkState.CONNECTING, time.time())
        self._lock = threading.Lock()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5.0)

    def status(self) -> ConnectionStatus:
        with self._lock:
            return self._status

    def run(self) -> None:
        while not self._stop.is_set():
            wait = self.interval if self.once() else min(self.interval, RETRY_DOWN)
            self._stop.wait(wait)

    def once(self) -> bool:
        try:
            found = self.reconcile(self.queries)
        except DriverError as exc:
            log.warning("connection %s: reconciliation failed: %s", self.name, exc)
            self.update(state=LinkState.DOWN, last_reconcile_error=str(exc), last_error=str(exc))
            return False
        for event in found.events:
            self.deliver(event)
        old = self.status()
        self.update(state=LinkState.UP, connects=old.connects + (old.state is not LinkState.UP),
                    events=old.events + len(found.events), reconciliations=old.reconciliations + 1,
                    last_reconcile_at=time.time(), last_reconcile_queries=found.queries,
                    last_reconcile_seconds=found.seconds, last_reconcile_error=None)
        return True

    def update(self, **values) -> None:
        with self._lock:
            if "state" in values and values["state"] is not self._status.state:
                values["since"] = time.time()
            self._status = replace(self._status, **values)
