"""dueq's worker: consumes runs, enforces limits, runs jobs, reports events."""
