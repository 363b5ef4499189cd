#!/usr/bin/env python3
"""Moderation by hand: active bans, the review queue, approve / ban / dismiss, resume, state.

Logic in tooling/moderation.py; where the bucket is: tooling/access.py (--local for the running
local stack). Every write asks first unless --yes; --dry-run does nothing.

    .venv/bin/python scripts/moderation.py --local review
    .venv/bin/python scripts/moderation.py --local ban 9cb6b3fd8e7895e63b0ea3c652f602cc --seconds 3600
    .venv/bin/python scripts/moderation.py --local bans
    .venv/bin/python scripts/moderation.py --local resume room-7 --yes
"""

from __future__ import annotations

import os
import sys

try:  # the venv puts the repository root on the path (scripts/venv.sh); any other Python lacks it
    from tooling.moderation import main
except ModuleNotFoundError as missing:
    sys.exit(f"moderation: {missing.name} not found: use .venv/bin/python (./scripts/local.sh makes it)")

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], os.environ))
