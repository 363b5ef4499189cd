# Sourced by scripts/test.sh and scripts/local.sh: creates .venv when missing, installs the
# pinned development dependencies whenever requirements*.txt changed since the last install, and
# puts the repository root on the venv's import path (a .pth file), so that the thin command
# lines in scripts/ and deploy/ import `tooling`, `devstack`, `shared` and `deploy` as packages
# from anywhere, with no sys.path edits of their own.
#
# The venv's interpreter: $PYTHON when set; else the system's CPython (/usr/bin/python3) when it
# is 3.11 or newer and can make a venv, else python3 from PATH. A distribution's CPython is built
# with profile-guided and link-time optimisation; pyenv's default build (python3 on PATH here) is
# not, and ran the suite's CPU-bound tests 10-15 % slower (docs/PERFORMANCE.md). When the chosen
# interpreter changes, .venv is made again from it (.venv/.python records which it was).
if [ -z "${PYTHON:-}" ]; then
  PYTHON=python3
  # ensurepip with its pip wheel: on Debian that is the python3-venv package, without which venv fails.
  if /usr/bin/python3 -c 'import ensurepip, sys; sys.exit(sys.version_info < (3, 11) or not ensurepip.version())' 2>/dev/null; then
    PYTHON=/usr/bin/python3
  fi
fi
venv_python=$("$PYTHON" -c 'import sys; print(sys.executable, sys.version.split()[0])')
if [ -x .venv/bin/python ] && [ "$(cat .venv/.python 2>/dev/null)" != "$venv_python" ]; then
  echo "making .venv again with $venv_python (was: $(cat .venv/.python 2>/dev/null || echo unrecorded)) ..." >&2
  rm -rf .venv
fi
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
  echo "$venv_python" > .venv/.python
fi
stamp=.venv/.requirements.sha
want=$(cat requirements.txt requirements-dev.txt | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "installing development dependencies into .venv ..." >&2
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -r requirements-dev.txt
  echo "$want" > "$stamp"
fi
root_pth=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/live_callbacks_root.pth
if [ "$(cat "$root_pth" 2>/dev/null)" != "$(pwd)" ]; then
  pwd > "$root_pth"
fi
