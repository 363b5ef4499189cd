#!/usr/bin/env python3
"""Backfill what CSS gave up delivering, for a window an operator picks (tooling/reconcile.py).

.venv/bin/python scripts/reconcile.py --local --since 3h
.venv/bin/python scripts/reconcile.py --since 2026-11-28T00:00:00Z --until 2026-11-29T00:00:00Z --dry-run
.venv/bin/python scripts/reconcile.py --stream room-7 --since 1d     # (functions' variables set)
"""

from __future__ import annotations

import os
import sys

try:  # the venv puts the repository root on the path (scripts/venv.sh); any other Python lacks it
    from tooling.reconcile import main
except ModuleNotFoundError as missing:
    sys.exit(f"reconcile: {missing.name} not found: use .venv/bin/python (./scripts/local.sh makes it)")

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], os.environ))
