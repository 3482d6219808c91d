"""Real rpm tooling for tests: tiny noarch packages built by rpmbuild, and
dnf queries against a repository directory that never touch the host's
repositories. In CI a missing tool fails the tests instead of skipping them."""
from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile

from unavailable import unavailable

TOOLS = ("rpmbuild", "createrepo_c", "dnf")


def require_tools() -> None:
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if not missing:
        return
    unavailable(f"needs {', '.join(missing)} (Debian: apt-get install rpm createrepo-c dnf)")


def spec_text(name: str, version: str = "1.0", release: str = "1", requires: str = "",
              subpackages: tuple[str, ...] = ()) -> str:
    """A noarch package installing /usr/share/<name>/VERSION, plus subpackages."""
    text = f"""\
Name: {name}
Version: {version}
Release: {release}
Summary: {name} for gateq tests
License: MIT
BuildArch: noarch
{requires}

%description
{name} packaged for a gateq test.

%install
mkdir -p %{{buildroot}}/usr/share/{name}
echo {version}-{release} > %{{buildroot}}/usr/share/{name}/VERSION
"""
    for sub in subpackages:
        text += (f"echo {sub} > %{{buildroot}}/usr/share/{name}/{sub}\n")
    text += f"\n%files\n/usr/share/{name}/VERSION\n"
    for sub in subpackages:
        text += (f"\n%package -n {sub}\nSummary: {sub}\n%description -n {sub}\n{sub}\n"
                 f"%files -n {sub}\n/usr/share/{name}/{sub}\n")
    return text


def build_rpms(dest: str, name: str, version: str = "1.0", release: str = "1",
               requires: str = "", subpackages: tuple[str, ...] = ()) -> list[str]:
    """Build with rpmbuild and copy the binary rpms into `dest`; their paths."""
    os.makedirs(dest, exist_ok=True)
    with tempfile.TemporaryDirectory() as top:
        spec = os.path.join(top, f"{name}.spec")
        with open(spec, "w") as f:
            f.write(spec_text(name, version, release, requires, subpackages))
        subprocess.run(["rpmbuild", "-bb", "--quiet", "--define", f"_topdir {top}", spec],
                       check=True, capture_output=True)
        built = []
        for rpm in sorted(glob.glob(os.path.join(top, "RPMS", "*", "*.rpm"))):
            built.append(shutil.copy(rpm, dest))
        return built


def dnf_base(repo_dir: str, work: str) -> list[str]:
    """dnf on `repo_dir` alone, with every file it writes under `work`."""
    conf = os.path.join(work, "dnf.conf")
    with open(conf, "w") as f:
        f.write("[main]\ngpgcheck=False\n")
    return ["dnf", "-q", "-y", f"--config={conf}", "--noplugins",
            f"--installroot={os.path.join(work, 'root')}", "--setopt=reposdir=/nonexistent",
            "--releasever=gateq", f"--repofrompath=gateq,file://{os.path.abspath(repo_dir)}",
            "--repo=gateq", "--setopt=gateq.gpgcheck=0"]


def repoquery(repo_dir: str) -> set[str]:
    """name-version-release.arch of every package dnf sees in `repo_dir`."""
    with tempfile.TemporaryDirectory() as work:
        out = subprocess.run(dnf_base(repo_dir, work) + [
            "repoquery", "--qf", "%{name}-%{version}-%{release}.%{arch}"],
            check=True, capture_output=True, text=True).stdout
    return {line.strip() for line in out.splitlines() if line.strip()}
