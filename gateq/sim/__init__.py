"""`gateq simulate`: the real scheduler under a virtual clock, with simulated
merges, builds and publishing, compared across strategies and with a lower
bound on when each change can land. See docs/simulator.md.
"""
