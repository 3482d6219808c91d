"""The git driver: local git repositories, today's behaviour behind the
driver interface, plus a post-receive hook that turns a push to
refs/for/BRANCH into a proposed change (Gerrit's convention).

- connection.py: GitDriverConnection (mirror = the repositories themselves)
- proposals.py: changes stored at refs/changes/NN/N/P, numbered per repository
- receive.py: what the post-receive hook does with a push
- install.py: writing that hook into a repository
- schema.py: the connection's attributes in gateq.yaml
"""
