# Sourced by scripts/test.sh and scripts/local.sh: creates .venv when missing, installs the
# pinned development dependencies whenever requirements*.txt changed since the last install, and
# puts the repository root on the venv's import path (a .pth file), so that the thin command
# lines in scripts/ and deploy/ import `tooling`, `devstack`, `shared` and `deploy` as packages
# from anywhere, with no sys.path edits of their own.
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
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
