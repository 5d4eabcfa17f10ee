"""Helpers shared by every test tier.

* ``waiting``: ``wait_until``, the suite's one poll-with-deadline helper.
* ``draining``: ``drain_until``, waiting while driving a broker connection.
* ``connections``: a broker connection with a test's topology, deleted afterwards.
* ``leaks``: fail a test that leaves threads or file descriptors behind.
* ``worker_fixtures``: the ``topology`` and ``probe`` fixtures of the worker tests.
"""

from __future__ import annotations

from tests.support.waiting import wait_until

__all__ = ["wait_until"]
