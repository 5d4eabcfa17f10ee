"""The scheduler side's commands, mounted lazily on ``dueq`` by ``dueq.cli``.

One module per command group: ``scheduler`` (the service), ``database`` (``dueq db``),
``jobs``, ``runs``, ``workers``, ``health``, ``dead`` and ``dashboard``; ``common``,
``specs`` and ``output`` hold what they share (service options, parsing of durations and
triggers, printing).  Nothing is imported here, so loading one command does not load the
others.
"""
