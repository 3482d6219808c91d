"""`gateq simulate`: the real scheduler under a virtual clock, with simulated
merges and builds, compared across strategies and with a hindsight oracle.
See docs/simulator.md.
"""
