#!/bin/sh
# Install packages from the speculative repository this build sees
# ($GATEQ_REPOS/$REPO: the published snapshot plus the packages of every item
# ahead and of this item) into a throwaway root with dnf, offline and without
# any other repository, then run CHECK_COMMAND against that root.
#
# Job vars:
#   REPO           repository to install from (default: rdo)
#   PACKAGES       space-separated package names. Those the repository does
#                  not hold yet (a project not imported so far) are skipped
#                  with a note; at least one must be there. Default: the
#                  binary packages of this checkout's *.spec files, all required.
#   CHECK_COMMAND  shell command run after the install, with INSTALL_ROOT
#                  exported, e.g.: rpm --root "$INSTALL_ROOT" -q nova
#   RELEASEVER     dnf's $releasever (default: gateq; only used in repo URLs)
set -eu
REPO=${REPO:-rdo}
: "${GATEQ_REPOS:?rpm-install-check.sh needs GATEQ_REPOS: give the job requires: [$REPO]}"
repo_dir="$GATEQ_REPOS/$REPO"
if [ ! -f "$repo_dir/repodata/repomd.xml" ]; then
    echo "rpm-install-check: $repo_dir is not an rpm repository (no repodata/repomd.xml)" >&2
    exit 1
fi

required=no
if [ -z "${PACKAGES:-}" ]; then
    specs=$(ls ./*.spec 2>/dev/null || true)
    if [ -z "$specs" ]; then
        echo "rpm-install-check: set PACKAGES, or run in a checkout with a *.spec file" >&2
        exit 1
    fi
    PACKAGES=$(echo $(for spec in $specs; do
        rpmspec -q --builtrpms --qf '%{NAME}\n' --define "_sourcedir $(pwd)" "$spec"
    done | sort -u))
    required=yes
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/gateq-install.XXXXXX")
trap 'rm -rf "$work"' EXIT
INSTALL_ROOT="$work/root"
export INSTALL_ROOT
printf '[main]\ngpgcheck=False\ninstall_weak_deps=False\n' > "$work/dnf.conf"

# dnf refuses to install unless it runs as root: as anyone else, run it as
# root of a user namespace (the root it writes to is ours anyway).
as_root=""
[ "$(id -u)" = 0 ] || as_root="unshare --map-root-user"

# reposdir: a path that does not exist, so only the repository given here is used
gateq_dnf() {
    $as_root dnf -y --config="$work/dnf.conf" --noplugins --installroot="$INSTALL_ROOT" \
        --setopt=reposdir=/nonexistent --releasever="${RELEASEVER:-gateq}" \
        --repofrompath="gateq,file://$repo_dir" --repo=gateq --setopt=gateq.gpgcheck=0 "$@"
}

available=" $(echo $(gateq_dnf -q repoquery --qf '%{name}' | sort -u)) "
install=""
for name in $PACKAGES; do
    case "$available" in
        *" $name "*) install="$install $name" ;;
        *) if [ "$required" = yes ]; then
               echo "rpm-install-check: $name is not in $repo_dir" >&2
               exit 1
           fi
           echo "rpm-install-check: $name is not in the repository yet: skipped" ;;
    esac
done
if [ -z "$install" ]; then
    echo "rpm-install-check: none of $PACKAGES is in $repo_dir" >&2
    exit 1
fi

echo "rpm-install-check: installing$install from $repo_dir"
gateq_dnf install $install

echo "rpm-install-check: installed in $INSTALL_ROOT:"
rpm --root "$INSTALL_ROOT" -qa --qf '  %{NAME}-%{VERSION}-%{RELEASE}.%{ARCH}\n' | sort

if [ -n "${CHECK_COMMAND:-}" ]; then
    echo "rpm-install-check: running $CHECK_COMMAND"
    sh -c "$CHECK_COMMAND"
fi
