"""A module under an allowed prefix that nobody imports: importing it exits the process.

A worker resolving ``tests.jobs_for_tests.exits_on_import:anything`` must refuse the name
by lookup alone; if it ever imported this module, the worker would die.
"""

from __future__ import annotations

import sys

sys.exit("tests.jobs_for_tests.exits_on_import was imported")
