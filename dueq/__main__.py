"""``python -m dueq`` is the ``dueq`` command."""

from dueq.cli import main

main()
