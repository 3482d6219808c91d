"""Artifacts inside the gate: what export jobs produce, the speculative
repositories builds see, and the snapshots published when items land.

store (content-addressed files and artifact sets) -> layering (which files a
stack of layers shows) -> rpmmeta (incremental repodata) -> view (a build's
repository) and snapshots (published repositories and `current`).
"""
