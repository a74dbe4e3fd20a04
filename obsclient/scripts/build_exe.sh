#!/usr/bin/env bash
# Build the single-file `obsclient` executable with PyInstaller and smoke-test it.
#
#   obsclient/scripts/build_exe.sh            # fresh build venv (needs PyPI), output in obsclient/dist/
#   PYTHON=.venv/bin/python obsclient/scripts/build_exe.sh --use-current
#                                             # build with an existing environment (obsclient + pyinstaller in it)
#
# The Windows executable is built the same way on Windows (PyInstaller does not cross-compile); see the
# comment at the top of obsclient.spec. Takes a few minutes; not part of the default test run.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"   # the obsclient/ folder
BUILD="${BUILD_DIR:-$HERE/build}"
DIST="${DIST_DIR:-$HERE/dist}"
PYINSTALLER_VERSION="6.22.3"

if [[ "${1:-}" == "--use-current" ]]; then
    PY="${PYTHON:-python3}"
else
    VENV="$BUILD/venv"
    "${PYTHON:-python3}" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
    "$VENV/bin/python" -m pip install --quiet "$HERE" "pyinstaller==$PYINSTALLER_VERSION"
    PY="$VENV/bin/python"
fi

"$PY" -m PyInstaller --clean --noconfirm --distpath "$DIST" --workpath "$BUILD/pyinstaller" "$HERE/obsclient.spec"

EXE="$DIST/obsclient"
# Smoke test: the executable runs, writes a valid config, and reports a bad one in one sentence (exit 2).
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
"$EXE" --version
"$EXE" -c "$TMP/obsclient.yaml" init --name "Smoke test" >/dev/null
sed -i.bak 's/^  latitude: .*/  latitude: north/' "$TMP/obsclient.yaml"
set +e
MESSAGE="$("$EXE" -c "$TMP/obsclient.yaml" status 2>&1)"
CODE=$?
set -e
[[ $CODE -eq 2 && "$MESSAGE" == *"site.latitude must be a number"* ]] || { echo "smoke test failed: $MESSAGE"; exit 1; }
echo "built $EXE ($(du -h "$EXE" | cut -f1))"
