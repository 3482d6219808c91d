from setuptools import find_packages, setup

setup(
    name="gateq",
    version="0.1.0",
    description="A speculative gating engine: shared dependent queues with publishing inside the gate",
    packages=find_packages(include=["gateq", "gateq.*"]),
    python_requires=">=3.11",
    # git itself is driven through its plumbing commands (gateq/git/repo.py):
    # one process per call is cheap and stable, so no git library is needed.
    install_requires=["PyYAML>=6.0", "voluptuous>=0.13", "matplotlib>=3.5", "createrepo_c>=1.0",
                      "paramiko>=3.4",
                      # shared state for schedulers on many hosts (gateq/zk, docs/scale-out.md)
                      "kazoo>=2.9",
                      # the web service (gateq/web, docs/web.md says why these)
                      "aiohttp>=3.9", "Jinja2>=3.1", "prometheus_client>=0.17"],
    extras_require={"test": ["pytest>=7", "selenium>=4.11"]},
    package_data={"gateq.web": ["templates/*.html", "static/*"]},
    entry_points={"console_scripts": ["gateq = gateq.cli:entry"]},
)
