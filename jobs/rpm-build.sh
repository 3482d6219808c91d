#!/bin/sh
# Export job: build the binary rpms of a distgit checkout (*.spec files and
# their sources, in the current directory) with rpmbuild, offline, and copy
# them into $GATEQ_ARTIFACTS: they become this item's packages in the
# repository the job exports to.
#
# Job vars: RPMBUILD_CHECK_DEPS=1 checks BuildRequires against the host's rpm
# database (off by default: on a host that is not rpm-based it is empty, and
# without mock nothing installs build dependencies anyway). DIST sets %dist.
set -eu
: "${GATEQ_ARTIFACTS:?rpm-build.sh is an export job: GATEQ_ARTIFACTS is not set}"

specs=$(ls ./*.spec 2>/dev/null || true)
if [ -z "$specs" ]; then
    echo "rpm-build: no *.spec file in $(pwd): nothing to build" >&2
    exit 1
fi

top=$(mktemp -d "${TMPDIR:-/tmp}/gateq-rpmbuild.XXXXXX")
trap 'rm -rf "$top"' EXIT

set -- --define "_topdir $top" --define "_sourcedir $(pwd)"
[ "${RPMBUILD_CHECK_DEPS:-0}" = 1 ] || set -- "$@" --nodeps
[ -z "${DIST:-}" ] || set -- "$@" --define "dist $DIST"

for spec in $specs; do
    echo "rpm-build: building $spec"
    rpmbuild -bb "$@" "$spec"
done

found=0
for rpm in "$top"/RPMS/*/*.rpm; do
    [ -e "$rpm" ] || continue
    cp "$rpm" "$GATEQ_ARTIFACTS/"
    found=$((found + 1))
done
if [ "$found" = 0 ]; then
    echo "rpm-build: rpmbuild produced no binary rpm" >&2
    exit 1
fi
echo "rpm-build: exported $found package(s):"
for rpm in "$GATEQ_ARTIFACTS"/*.rpm; do
    rpm -qp --qf '  %{NAME}-%{VERSION}-%{RELEASE}.%{ARCH}\n' "$rpm"
done
