#!/usr/bin/env bash
# make rpm: a source tarball of the tree (sdist), then rpmbuild -ba. Output in build/rpm/ (or $RPM_TOPDIR).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-$top/.venv/bin/python}
version=$("$python" -c 'import vdsm_hosted_engine; print(vdsm_hosted_engine.__version__)')
topdir=${RPM_TOPDIR:-$top/build/rpm}
rm -rf "$topdir"
mkdir -p "$topdir"/{SOURCES,SPECS,BUILD,RPMS,SRPMS}
(cd "$top" && "$python" setup.py -q sdist --dist-dir "$topdir/SOURCES" >/dev/null)
rpmbuild -ba --quiet --define "_topdir $topdir" --define "he_version $version" "$top/spec/vdsm-hosted-engine.spec"
find "$topdir/RPMS" "$topdir/SRPMS" -name "*.rpm" -print
