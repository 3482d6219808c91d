"""The web service: pages and their JSON twins, the admin API, live streams
and Prometheus metrics, over the same store the engine writes.

It decides nothing and keeps nothing of its own: it reads the status
snapshot, results, logs and published snapshots, and records admin requests
into the journal through gateq/requests.py, as the command line does. So it
works whether or not an engine runs, and a restart of either loses nothing.
See docs/web.md (design) and docs/api.md (every endpoint).
"""
