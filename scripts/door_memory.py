#!/usr/bin/env python3
"""Peak memory of each door for the worst bodies it can be sent, signed and not (issue 23, item 11).

Each measurement runs in a fresh child Python: the door's handler is imported and warmed with one
ordinary signed callback, then given one body of the largest size a door accepts, built of the
JSON values that cost Python the most memory per byte; the peak RSS (VmHWM) after it is
compared with the door's memory (64 MB). The COS and TDMQ stand-ins run in this process. Figures
in docs/RELIABILITY.md (section 3).

    .venv/bin/python scripts/door_memory.py             # every door, every shape (about a minute)
    .venv/bin/python scripts/door_memory.py --kinds stream_begin porn_detect
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Sequence

try:  # the venv puts the repository root on the path (scripts/venv.sh); any other Python lacks it
    from devstack.stack import DevStack
    from shared.gateway import MAX_BODY_BYTES
    from shared.vocabulary import KINDS
except ModuleNotFoundError as missing:
    sys.exit(f"door_memory: {missing.name} not found: use .venv/bin/python (./scripts/local.sh makes it)")

MEMORY_MB = 64
SHAPES = ("objects", "keys", "floats", "string")

CHILD = r"""
import json, sys, time


def hwm():  # the peak RSS of this process image (VmHWM; ru_maxrss would start at the parent's size)
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))


from devstack import payloads
from tooling.bench.child import load_handler
from devstack.triggers import context, function_url_event
kind, shape, signed, size = sys.argv[1], sys.argv[2], sys.argv[3] == "signed", int(sys.argv[4])
handler = load_handler("ours", kind)
warm = payloads.signed(payloads.stream_begin("warm"))
handler(function_url_event(warm), context(kind))
before = hwm()
head = payloads.signed({"event_type": 1, "stream_id": "big"}) if signed else {"event_type": 1}
prefix = json.dumps(head)[:-1] + ', "pad": '
room = size - len(prefix) - 2
if shape == "objects":
    pad = "[" + ",".join(["{}"] * (room // 3)) + "]"
elif shape == "keys":
    n = room // 12
    pad = "{" + ",".join(f'"k{i:07d}":0' for i in range(n)) + "}"
elif shape == "floats":
    pad = "[" + ",".join(["0.5"] * (room // 4)) + "]"
else:
    pad = json.dumps("x" * (room - 2))
body = (prefix + pad + "}")[:size]
answer = handler(function_url_event(body), context(kind))
after = hwm()
figures = {"status": answer["statusCode"], "before_mb": before / 1024, "peak_mb": after / 1024}
print(json.dumps({**figures, "bytes": len(body)}))
"""


def measure(kind: str, shape: str, signed: bool, size: int, env: dict[str, str]) -> dict[str, object]:
    args = [sys.executable, "-c", CHILD, kind, shape, "signed" if signed else "unsigned", str(size)]
    done = subprocess.run(args, env=env, capture_output=True, text=True, check=False, timeout=120)
    if done.returncode:
        raise SystemExit(f"door_memory: {kind} {shape}: {done.stderr.strip()[-600:]}")
    line = [x for x in done.stdout.splitlines() if x.startswith("{") and '"peak_mb"' in x][-1]
    return dict(json.loads(line))


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--kinds", nargs="+", choices=KINDS, default=list(KINDS))
    p.add_argument("--size", type=int, default=MAX_BODY_BYTES, help="body bytes (default: the largest accepted)")
    p.add_argument("--json", help="write the figures here")
    args = p.parse_args(argv)
    rows = []
    worst = 0.0
    with DevStack() as stack:
        env = {**os.environ, **stack.env(), "PYTHONUNBUFFERED": "1"}
        print(f"{'door':<18} {'shape':<8} {'signed':<8} {'status':>6} {'peak MB':>8}")
        for kind in args.kinds:
            for shape in SHAPES:
                for signed in (False, True):
                    figure = measure(kind, shape, signed, args.size, env)
                    rows.append({"kind": kind, "shape": shape, "signed": signed, **figure})
                    worst = max(worst, float(str(figure["peak_mb"])))
                    print(f"{kind:<18} {shape:<8} {signed!s:<8} {figure['status']:>6} {figure['peak_mb']:>8.1f}")
    print(f"worst peak: {worst:.1f} MB of {MEMORY_MB} MB")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(rows, out, indent=2)
    return 0 if worst < MEMORY_MB else 1


if __name__ == "__main__":
    sys.exit(main())
