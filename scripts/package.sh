#!/usr/bin/env bash
# Builds one SCF code package per function: build/<kind>/ holds index.py (a copy of
# functions/<kind>/index.py, so SCF's documented handler `index.main_handler` names a file at the
# package root), the project's shared/ package and the runtime dependencies of requirements.txt,
# vendored beside them, plus bytecode; build/<kind>.zip is the same folder for a console upload.
#
#   scripts/package.sh                  # SCF target (default): manylinux x86-64 wheels for CPython 3.10
#   scripts/package.sh --target local   # wheels for the Python running this script (used by the bench)
#
# Options: --out DIR (default build: DIR/<kind>/, DIR/<kind>.zip, DIR/packages.manifest.txt),
#          --python PY (interpreter whose pip installs; default .venv/bin/python, else python3),
#          --max-mb N (fail when the zip is larger; default 10),
#          --bytecode-python PY (the CPython that compiles the .pyc files; default: for the SCF target
#          a CPython 3.10 found on PATH or under pyenv, for the local target --python),
#          --no-bytecode (ship sources only; SCF then compiles every module on every cold start).
# Nothing from tests/, devstack/, scripts/ or the dev requirements goes in. Prints the zip's size.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

TARGET=scf
OUT=build
MAX_MB=10
PYTHON=${PYTHON:-}
BYTECODE=yes
BYTECODE_PYTHON=${BYTECODE_PYTHON:-}
# SCF's Python3.10 runtime: CPython 3.10 on Linux x86-64 (glibc), see docs/DEPLOY.md.
SCF_PLATFORM=manylinux2014_x86_64
SCF_PYTHON_VERSION=3.10
SCF_ABI=cp310
# crcmod (required by cos-python-sdk-v5) is published as a source archive only; its pure-Python
# implementation is repacked as a wheel (see make_pure_crcmod_wheel).
CRCMOD_VERSION=1.7

usage() { sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
  case "$1" in
    --target) TARGET=$2; shift 2 ;;
    --target=*) TARGET=${1#*=}; shift ;;
    --out) OUT=$2; shift 2 ;;
    --out=*) OUT=${1#*=}; shift ;;
    --python) PYTHON=$2; shift 2 ;;
    --python=*) PYTHON=${1#*=}; shift ;;
    --max-mb) MAX_MB=$2; shift 2 ;;
    --max-mb=*) MAX_MB=${1#*=}; shift ;;
    --bytecode-python) BYTECODE_PYTHON=$2; shift 2 ;;
    --bytecode-python=*) BYTECODE_PYTHON=${1#*=}; shift ;;
    --no-bytecode) BYTECODE=no; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "package.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
done
case "$TARGET" in
  scf | local) ;;
  *) echo "package.sh: --target must be 'scf' or 'local', got '$TARGET'" >&2; exit 2 ;;
esac
if [ -z "$PYTHON" ]; then
  if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi

# The interpreter that compiles the bytecode must be the runtime's version: a .pyc is only read by
# the CPython minor version that wrote it. SCF's code folder is read-only, so without shipped
# bytecode every cold start compiles every module it imports (about half of a cold start).
python_minor() { "$1" -c 'import sys; print("%s%d.%d" % (sys.implementation.name, *sys.version_info[:2]))' 2>/dev/null; }
if [ "$BYTECODE" = yes ]; then
  if [ "$TARGET" = local ]; then
    want=$(python_minor "$PYTHON")
    BYTECODE_PYTHON=${BYTECODE_PYTHON:-$PYTHON}
  else
    want=cpython$SCF_PYTHON_VERSION
    if [ -z "$BYTECODE_PYTHON" ]; then
      for candidate in "$(command -v "python$SCF_PYTHON_VERSION" || true)" \
        "$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")"/versions/"$SCF_PYTHON_VERSION".*/bin/python"$SCF_PYTHON_VERSION"; do
        if [ -n "$candidate" ] && [ -x "$candidate" ] && [ "$(python_minor "$candidate")" = "$want" ]; then
          BYTECODE_PYTHON=$candidate
          break
        fi
      done
    fi
  fi
  if [ -z "$BYTECODE_PYTHON" ] || [ "$(python_minor "$BYTECODE_PYTHON")" != "$want" ]; then
    echo "package.sh: bytecode for $want needs that interpreter (got '${BYTECODE_PYTHON:-none found}');" \
      "pass --bytecode-python PATH, or --no-bytecode to ship sources only (slower cold starts)" >&2
    exit 2
  fi
fi
case "$OUT" in
  "" | / | . | .. | "$ROOT") echo "package.sh: refusing to build into '$OUT'" >&2; exit 2 ;;
esac

mkdir -p "$OUT"
# The work folder sits beside the packages (same file system), so they can hard-link the vendored files.
WORK=$(mktemp -d "$OUT/.package-work.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
WHEELHOUSE=$WORK/wheelhouse
mkdir -p "$WHEELHOUSE"

make_pure_crcmod_wheel() {
  # The sdist holds python3/crcmod/*.py (pure Python, used whenever the C extension is absent)
  # and an optional C extension. Building it would compile the extension for the build
  # machine's Python, not SCF's; the pure-Python modules are version independent.
  "$PYTHON" -m pip download --quiet --no-deps --no-binary :all: --dest "$WORK/sdist" "crcmod==$CRCMOD_VERSION" \
    2> >(grep -v "is ignored: it is neither" >&2)
  "$PYTHON" - "$WORK/sdist/crcmod-$CRCMOD_VERSION.tar.gz" "$WHEELHOUSE" "$CRCMOD_VERSION" <<'PY'
import base64, hashlib, sys, tarfile, zipfile

sdist, wheelhouse, version = sys.argv[1:4]
top = f"crcmod-{version}"
files: dict[str, bytes] = {}
with tarfile.open(sdist) as archive:
    for name in ("__init__.py", "crcmod.py", "_crcfunpy.py", "predefined.py"):
        files[f"crcmod/{name}"] = archive.extractfile(f"{top}/python3/crcmod/{name}").read()
    files[f"{top}.dist-info/LICENSE"] = archive.extractfile(f"{top}/LICENSE").read()
info = f"{top}.dist-info"
files[f"{info}/METADATA"] = f"Metadata-Version: 2.1\nName: crcmod\nVersion: {version}\nLicense: MIT\n".encode()
files[f"{info}/WHEEL"] = b"Wheel-Version: 1.0\nGenerator: package.sh\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
record = []
for name, data in files.items():
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    record.append(f"{name},sha256={digest},{len(data)}")
record.append(f"{info}/RECORD,,")
files[f"{info}/RECORD"] = ("\n".join(record) + "\n").encode()
with zipfile.ZipFile(f"{wheelhouse}/{top}-py3-none-any.whl", "w", zipfile.ZIP_DEFLATED) as wheel:
    for name, data in files.items():
        wheel.writestr(name, data)
PY
}

KINDS=()
for door in functions/*/index.py; do KINDS+=("$(basename "$(dirname "$door")")"); done
[ ${#KINDS[@]} -gt 0 ] || { echo "package.sh: no functions/<kind>/index.py found" >&2; exit 2; }

echo "== package: target=$TARGET out=$OUT functions=${KINDS[*]}"
mkdir -p "$OUT"
for kind in "${KINDS[@]}"; do rm -rf "${OUT:?}/$kind" "$OUT/$kind.zip"; done

make_pure_crcmod_wheel

# The vendored dependencies, installed and compiled once, then copied into every package.
VENDOR=$WORK/vendor
pip_args=(install --quiet --no-compile --disable-pip-version-check --target "$VENDOR" --only-binary=:all:
  --find-links "$WHEELHOUSE" -r requirements.txt)
if [ "$TARGET" = scf ]; then
  pip_args+=(--platform "$SCF_PLATFORM" --python-version "$SCF_PYTHON_VERSION" --implementation cp --abi "$SCF_ABI")
fi
"$PYTHON" -m pip "${pip_args[@]}" 2> >(grep -v "is ignored: it is neither" >&2)

# Trim what never runs in SCF: bytecode caches, console scripts, type stubs, install records,
# the vendored libraries' own test suites.
find "$VENDOR" -depth \( -name __pycache__ -o -name SelfTest -o -name tests -o -name test \) -type d -exec rm -rf {} +
find "$VENDOR" \( -name '*.pyc' -o -name '*.pyi' \) -type f -delete
rm -rf "$VENDOR/bin"
find "$VENDOR" -path '*.dist-info/*' \( -name RECORD -o -name INSTALLER -o -name REQUESTED -o -name direct_url.json \
  -o -name entry_points.txt \) -type f -delete
# Minimal *.dist-info: METADATA keeps its header (name, version, requirements for
# importlib.metadata) and drops the long description; licence files stay.
"$PYTHON" - "$VENDOR" <<'PY'
import sys
from pathlib import Path

for metadata in Path(sys.argv[1]).glob("*.dist-info/METADATA"):
    header = metadata.read_text(encoding="utf-8", errors="replace").split("\n\n", 1)[0]
    metadata.write_text(header + "\n", encoding="utf-8")
PY
for name in shared index.py; do
  if [ -e "$VENDOR/$name" ]; then echo "package.sh: a dependency ships '$name', which our code owns" >&2; exit 2; fi
done

if [ "$BYTECODE" = yes ]; then
  # unchecked-hash for the vendored libraries: SCF unpacks the zip with new mtimes, which would
  # invalidate timestamp-based .pyc files, and these files never change once deployed.
  # PYTHONHASHSEED=0: marshal writes sets in hash order, so a random seed gives other bytes each build.
  PYTHONHASHSEED=0 "$BYTECODE_PYTHON" -m compileall -q -j 0 --invalidation-mode unchecked-hash -s "$VENDOR" -p / "$VENDOR"
fi

for kind in "${KINDS[@]}"; do
  package=$OUT/$kind
  mkdir -p "$package"
  # Hard links: the vendored files are the same bytes in every package (read-only once built).
  cp -al "$VENDOR/." "$package/" 2>/dev/null || cp -a "$VENDOR/." "$package/"
  # Our code: the function's door at the package root, and the shared pipeline.
  cp "functions/$kind/index.py" "$package/index.py"
  (find shared -name '*.py' -not -path '*/__pycache__/*' -print0 | xargs -0 cp --parents -t "$package")
  if [ "$BYTECODE" = yes ]; then
    # checked-hash for our own code: an edit made in SCF's console still takes effect.
    PYTHONHASHSEED=0 "$BYTECODE_PYTHON" -m compileall -q --invalidation-mode checked-hash -s "$package" -p / \
      "$package/shared" "$package/index.py"
  fi
done
if [ "$BYTECODE" = yes ]; then
  echo "bytecode: $(find "$OUT/${KINDS[0]}" -name '*.pyc' | wc -l) files per package for $want by $BYTECODE_PYTHON"
fi

"$PYTHON" - "$OUT" "$TARGET" "$SCF_ABI" "$MAX_MB" "${KINDS[@]}" <<'PY'
import filecmp, os, re, shutil, sys, zipfile
from pathlib import Path

out, target, abi, max_mb, kinds = Path(sys.argv[1]), sys.argv[2], sys.argv[3], float(sys.argv[4]), sys.argv[5:]

# Compiled extensions must be built for the runtime's Python (or the stable ABI).
if target == "scf":
    wrong = [
        str(p.relative_to(out))
        for p in out.joinpath(kinds[0]).rglob("*.so")
        if not (p.name.endswith(f".cpython-{abi[2:]}-x86_64-linux-gnu.so") or p.name.endswith(".abi3.so"))
    ]
    if wrong:
        sys.exit(f"package.sh: extensions not built for CPython {abi}: {', '.join(wrong)}")


def entries_of(kind: str) -> dict[str, Path]:
    folder = out / kind
    return {str(p.relative_to(folder)): p for p in sorted(folder.rglob("*")) if p.is_file()}


def add(archive: zipfile.ZipFile, name: str, path: Path) -> None:
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))  # fixed timestamps
    info.external_attr = (0o755 if os.access(path, os.X_OK) else 0o644) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    # zlib's default level 6: level 9 took four times the CPU (4.6 s against 1.1 s for the seven
    # zips) to make them 0.6 % smaller (50 KB of 8.4 MiB); unpacking costs the same either way.
    archive.writestr(info, path.read_bytes(), compresslevel=6)


# Deterministic zips: an unchanged build gives the same bytes. The packages differ only in their
# door (index.py and its bytecode), so what every package holds byte for byte is compressed once,
# sorted, into a common archive; each zip is a copy of it with its own files appended, sorted.
entries = {kind: entries_of(kind) for kind in kinds}
first = entries[kinds[0]]
common = sorted(
    name
    for name in first
    if all(name in entries[k] and filecmp.cmp(first[name], entries[k][name], shallow=False) for k in kinds[1:])
)
common_zip = out / ".common.zip"
with zipfile.ZipFile(common_zip, "w", zipfile.ZIP_DEFLATED) as archive:
    for name in common:
        add(archive, name, first[name])
built = []
for kind in kinds:
    zip_path = out / f"{kind}.zip"
    shutil.copyfile(common_zip, zip_path)
    with zipfile.ZipFile(zip_path, "a", zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(set(entries[kind]) - set(common)):
            add(archive, name, entries[kind][name])
    files = entries[kind].values()
    built.append((kind, zip_path.stat().st_size, sum(p.stat().st_size for p in files), len(entries[kind])))
common_zip.unlink()

vendored = []
for metadata in sorted(out.joinpath(kinds[0]).glob("*.dist-info/METADATA")):
    text = metadata.read_text(encoding="utf-8", errors="replace")
    name = re.search(r"^Name: (.+)$", text, re.M)
    version = re.search(r"^Version: (.+)$", text, re.M)
    vendored.append(f"{name.group(1).strip() if name else metadata.parent.name}=={version.group(1).strip() if version else '?'}")
out.joinpath("packages.manifest.txt").write_text("\n".join(vendored) + "\n", encoding="utf-8")
print(f"vendored: {', '.join(vendored)}")

too_big = []
for kind, size, unpacked, files in built:
    print(
        f"package: {out / kind}.zip {size} bytes zipped ({size / 2**20:.2f} MiB), {unpacked / 2**20:.2f} MiB unpacked,"
        f" {files} files, target {target}, handler index.main_handler"
    )
    if size > max_mb * 2**20:
        too_big.append(f"{kind}.zip is {size / 2**20:.2f} MiB")
if too_big:
    sys.exit(f"package.sh: above the {max_mb:g} MiB budget: {', '.join(too_big)}")
PY
