"""gateq on ZooKeeper (kazoo): the shared state of a gate whose schedulers
run on several hosts (docs/scale-out.md).

- store.py: `ZooKeeperStore`, what the SQLite state directory keeps
  (journal, checkpoints, results, status, intake, outbox) behind the same
  methods, so the engine, the CLI and replay use either;
- session.py: whether this process may act (its session is certain);
- scheduler.py and command.py: `gateq scheduler`, the engine run while it
  holds the gate's election, and only while its session is certain.
Nothing here is imported until a configuration has `zookeeper:`.
"""
