"""The one DST policy of the wall-clock triggers (cron and calendarinterval).

A wall-clock schedule names *labels* (naive local times such as 02:30); this module
decides at which *instants* they fire:

* a label skipped by a spring-forward gap fires once, moved forward by the gap
  (Berlin 02:30 on 2024-03-31 fires at 03:30 CEST), never dropped;
* a label repeated by a fall-back fold fires once, at its first occurrence, unless the
  schedule keeps an absolute cadence (cron with every hour allowed), which fires at both
  occurrences so that "every 30 minutes" stays every 30 minutes;
* no instant fires twice, so a moved gap label that lands on a real label is one fire.

Both rules fall out of PEP 495's ``fold=0`` reading of a label (the offset in force
before the change), which is what ``first_instant`` uses.  The only subtle part is that
around a change, label order and instant order disagree; ``next_wall_fire`` looks at the
few labels for which that matters.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from dueq.shared.triggers.zones import to_utc

__all__ = ["NextLabel", "first_instant", "next_wall_fire"]

NextLabel = Callable[[datetime], datetime | None]
"""The first label (naive wall time) of a schedule at or after the given label."""

# How far back we look for a spring-forward change whose moved labels may still be due.
# The largest jump on record (Pacific/Apia skipped 2011-12-30) is 24 h; 48 h covers it.
_LOOKBACK = timedelta(hours=48)
_SECOND = timedelta(seconds=1)


@dataclass(frozen=True)
class _Shift:
    """A change of UTC offset, seen from the wall clock."""

    at: datetime  # the instant (UTC) the new offset starts
    before: timedelta
    after: timedelta

    @property
    def size(self) -> timedelta:
        return abs(self.after - self.before)

    @property
    def is_gap(self) -> bool:
        return self.after > self.before

    @property
    def start(self) -> datetime:
        """First label skipped (gap) or repeated (fold)."""
        return (self.at + min(self.before, self.after)).replace(tzinfo=None)

    @property
    def end(self) -> datetime:
        """First label after the skipped or repeated ones."""
        return (self.at + max(self.before, self.after)).replace(tzinfo=None)


def first_instant(label: datetime, zone: ZoneInfo) -> datetime:
    """The instant (UTC) a label fires at: its first occurrence, or moved by a gap."""
    return label.replace(tzinfo=zone, fold=0).astimezone(UTC)


def _second_instant(label: datetime, zone: ZoneInfo) -> datetime:
    return label.replace(tzinfo=zone, fold=1).astimezone(UTC)


def _offset_at(zone: ZoneInfo, timestamp: int) -> timedelta:
    offset = datetime.fromtimestamp(timestamp, zone).utcoffset()
    assert offset is not None  # a ZoneInfo always knows its offset
    return offset


def _find_change(zone: ZoneInfo, low: datetime, high: datetime) -> datetime:
    """The instant in (low, high] where the offset changes (one change assumed)."""
    low_ts, high_ts = math.floor(low.timestamp()), math.ceil(high.timestamp())
    before = _offset_at(zone, low_ts)
    # Offsets change on whole seconds, so bisecting on seconds finds the exact instant.
    while high_ts - low_ts > 1:
        middle = (low_ts + high_ts) // 2
        if _offset_at(zone, middle) == before:
            low_ts = middle
        else:
            high_ts = middle
    return datetime.fromtimestamp(high_ts, UTC)


def _shift_around(label: datetime, zone: ZoneInfo) -> _Shift | None:
    """The change that skips or repeats ``label``; None for an ordinary label."""
    before = label.replace(tzinfo=zone, fold=0).utcoffset()
    after = label.replace(tzinfo=zone, fold=1).utcoffset()
    assert before is not None
    assert after is not None
    if before == after:
        return None
    naive = label.replace(tzinfo=UTC)
    low, high = sorted((naive - before, naive - after))
    return _Shift(_find_change(zone, low, high), before, after)


def _gap_before(moment: datetime, zone: ZoneInfo) -> _Shift | None:
    """A spring-forward change in the lookback window before ``moment`` (UTC)."""
    past = moment - _LOOKBACK
    now_offset = _offset_at(zone, math.floor(moment.timestamp()))
    if _offset_at(zone, math.floor(past.timestamp())) >= now_offset:
        return None
    at = _find_change(zone, past, moment)
    before = _offset_at(zone, math.floor((at - _SECOND).timestamp()))
    return _Shift(at, before, now_offset)


def next_wall_fire(
    zone: ZoneInfo, moment: datetime, next_label: NextLabel, *, repeat_fold: bool
) -> datetime | None:
    """The first instant >= ``moment`` at which the schedule fires, in ``zone``.

    ``repeat_fold`` makes labels repeated by a fold fire at both occurrences.
    """
    moment = to_utc(moment)
    local = moment.astimezone(zone)
    label = local.replace(tzinfo=None)
    candidates: list[datetime] = []
    start = label
    fold = _shift_around(label, zone)
    if fold is not None and local.fold == 1 and not repeat_fold:
        start = fold.end  # the rest of the fold repeats labels that have fired already
    elif fold is not None and local.fold == 0 and repeat_fold:
        candidates += _repeated(fold, zone, next_label)
    gap = _gap_before(moment, zone)
    if gap is not None and moment < gap.at + gap.size:
        candidates += _moved(gap, zone, next_label, label - gap.size)
    candidates += _first_due(zone, moment, next_label, start, repeat_fold)
    return min(candidates).astimezone(zone) if candidates else None


def _repeated(fold: _Shift, zone: ZoneInfo, next_label: NextLabel) -> list[datetime]:
    """Second occurrences still ahead of a moment in the first pass through a fold."""
    label = next_label(fold.start)
    if label is None or label >= fold.end:
        return []
    return [_second_instant(label, zone)]


def _moved(gap: _Shift, zone: ZoneInfo, next_label: NextLabel, since: datetime) -> list[datetime]:
    """Gap labels whose moved instant is still ahead, shortly after a spring-forward."""
    label = next_label(max(gap.start, since))
    if label is None or label >= gap.end:
        return []
    return [first_instant(label, zone)]


def _first_due(
    zone: ZoneInfo, moment: datetime, next_label: NextLabel, start: datetime, repeat_fold: bool
) -> list[datetime]:
    """The earliest instant of the first label >= ``start`` that is still due."""
    label = next_label(start)
    while label is not None:
        shift = _shift_around(label, zone)
        if shift is None:
            return [first_instant(label, zone)]
        if shift.is_gap:
            return _gap_label(label, shift, zone, next_label)
        due = [first_instant(label, zone)]
        if repeat_fold:
            due.append(_second_instant(label, zone))
        due = [instant for instant in due if instant >= moment]
        if due:
            return [min(due)]
        label = next_label(shift.end)
    return []


def _gap_label(
    label: datetime, gap: _Shift, zone: ZoneInfo, next_label: NextLabel
) -> list[datetime]:
    """A gap label moves forward by the gap; a real label may come before it.

    With an hour-long gap that cannot happen to a cron schedule, but a 30-minute gap
    (Australia/Lord_Howe) can put a real 02:35 before a moved 02:10 (= 02:40).
    """
    found = [first_instant(label, zone)]
    real = next_label(gap.end)
    if real is not None and real < label + gap.size:
        found.append(first_instant(real, zone))
    return found
