"""dueq's benchmark harness: ``python -m tests.bench`` (or ``make bench``).

Measures dueq and its references (the broker's own ceiling, APScheduler 3.11, Celery beat
and worker) in the same run on the same machine, prints them side by side and writes the
raw numbers to ``bench-results/<timestamp>.json``.  Not collected by pytest.
"""

from __future__ import annotations

__all__: list[str] = []
