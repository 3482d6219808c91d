"""Fan-out of stream events to the `gerrit stream-events` sessions that are
connected right now. Like Gerrit, nothing is kept for a client that is not
connected: an event published while nobody listens is gone."""
from __future__ import annotations

import json
import queue
import threading
from typing import Callable


class Subscription:
    """One stream-events session: a queue of JSON lines, `types` filtering
    them (None: every type), and `drop` to cut the session's connection."""

    def __init__(self, types: frozenset[str] | None, drop: Callable[[], None]) -> None:
        self.types = types
        self.lines: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self.drop = drop

    def wants(self, kind: str) -> bool:
        return self.types is None or kind in self.types

    def close(self) -> None:
        self.lines.put(None)


class EventBus:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscriptions: list[Subscription] = []

    def subscribe(self, types: frozenset[str] | None, drop: Callable[[], None]) -> Subscription:
        subscription = Subscription(types, drop)
        with self._lock:
            self._subscriptions.append(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        with self._lock:
            if subscription in self._subscriptions:
                self._subscriptions.remove(subscription)
        subscription.close()

    def publish(self, event: dict) -> None:
        line = (json.dumps(event, separators=(",", ":")) + "\n").encode()
        with self._lock:
            for subscription in self._subscriptions:
                if subscription.wants(event["type"]):
                    subscription.lines.put(line)

    def publish_raw(self, text: str) -> None:
        """A line exactly as given, to every session (tests of broken streams)."""
        line = (text + "\n").encode()
        with self._lock:
            for subscription in self._subscriptions:
                subscription.lines.put(line)

    def count(self) -> int:
        with self._lock:
            return len(self._subscriptions)

    def drop_all(self) -> int:
        """Cut every stream-events connection; returns how many there were."""
        with self._lock:
            dropping, self._subscriptions = self._subscriptions, []
        for subscription in dropping:
            subscription.close()
            subscription.drop()
        return len(dropping)
