"""``python -m tests.bench``: run the benchmark scenarios (see ``tests.bench.run``)."""

from __future__ import annotations

import sys

from tests.bench.run import main

sys.exit(main())
