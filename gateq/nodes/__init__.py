"""Builds on SSH nodes: jobs with a `nodeset` run on a node of gateq.yaml's
`nodes:` that has their label, at most `slots` at once per node.

remote.py writes the shell a node runs (the wrapper that times and ends a
job, the kill of its processes); connection.py keeps one strict SSH
connection per node (gateq/strictssh.py) and notices a node that stops
answering; build.py is one build's course there (its workspace sent, its
output streamed into its log, its artifacts brought back); pool.py gives
builds free nodes and reports them as the executor does (docs/nodes.md).
"""
