"""The scheduler service: the loop, events consumer, listener feed and retention threads.

The loop thread owns one ``BrokerConnection``: it publishes runs on it and sleeps on it,
draining a private queue on ``dueq.control`` so a wakeup from any process re-plans at
once.  Broker and database outages are retried and logged, never fatal; a connection lost
mid-batch means the batch is published again (same run ids) after reconnecting.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta

from dueq.producer.backend import Backend
from dueq.producer.clock import Clock
from dueq.producer.events import EventsConsumer
from dueq.producer.feed import ListenerFeed
from dueq.producer.leader.base import LeaseLost
from dueq.producer.leader.identity import ProcessIdentity
from dueq.producer.leadership import Leadership
from dueq.producer.listeners import ListenerDispatcher
from dueq.producer.loop import AfterPublish, SchedulingLoop
from dueq.producer.publisher import BrokerRunPublisher
from dueq.producer.retention import HistoryRetention
from dueq.producer.retries import Stopped, retry_until_stopped
from dueq.producer.settings import SchedulerSettings
from dueq.shared.broker import BrokerConnection, IncomingMessage, PublishError
from dueq.shared.errors import BrokerUnavailable
from dueq.shared.metrics import NO_METRICS, Metrics
from dueq.shared.topology import Topology

__all__ = ["SchedulerService"]

logger = logging.getLogger(__name__)

# Longest single wait on the broker: bounds how late a stop or a local wake is noticed.
_SLICE_S = 0.1
# Pause after an unexpected error (a bug) before the loop carries on.
_ERROR_PAUSE_S = 1.0
# How long stop() waits for each thread.
_JOIN_TIMEOUT_S = 30.0


class SchedulerService:
    """Runs the scheduling loop and the events consumer in background threads."""

    def __init__(
        self,
        *,
        settings: SchedulerSettings,
        backend: Backend,
        dispatcher: ListenerDispatcher,
        clock: Clock,
        after_publish: AfterPublish | None = None,
        metrics: Metrics = NO_METRICS,
    ) -> None:
        self._settings = settings
        self._metrics = metrics
        self._backend = backend
        self._dispatcher = dispatcher
        self._clock = clock
        self._after_publish = after_publish
        self._topology: Topology = settings.topology()
        self._stopping = threading.Event()
        self._feed_stopping = threading.Event()
        self._woken = threading.Event()
        self._leading = threading.Event()
        self._paused = threading.Event()
        # Set while the loop publishes a burst (full batches): the events consumer records
        # later, so the loop has the process's GIL (producer.events, docs/dispatch.md).
        self._bursting = threading.Event()
        self._threads: list[threading.Thread] = []
        self._leadership = Leadership(
            backend.leader,
            settings.scheduler_id,
            timedelta(seconds=settings.lease_seconds),
            on_change=self._on_leadership,
            identity=ProcessIdentity.current(),
        )
        self._connection: BrokerConnection | None = None
        self._feed: ListenerFeed | None = None

    @property
    def is_leader(self) -> bool:
        """True while this process holds the leader lease."""
        return self._leading.is_set()

    @property
    def listening(self) -> bool:
        """True while job outcomes published now reach this process's listeners."""
        return self._feed is not None and self._feed.ready.is_set()

    def start(self, *, paused: bool = False) -> None:
        """Start the threads (returns at once)."""
        if paused:
            self._paused.set()
        feed = ListenerFeed(
            broker_url=self._settings.broker_url.reveal(),
            topology=self._topology,
            dispatcher=self._dispatcher,
            stopping=self._feed_stopping,
            connection_name=f"dueq-scheduler-listeners {self._settings.scheduler_id}",
        )
        self._feed = feed
        events = EventsConsumer(
            broker_url=self._settings.broker_url.reveal(),
            topology=self._topology,
            history=self._backend.history,
            retries=self._backend.retries,
            on_retry=self.wake,
            leading=self._leading,
            publishing_burst=self._bursting,
            feed_ready=feed.ready,
            stopping=self._stopping,
            clock=self._clock,
            prefetch=self._settings.events_prefetch,
            metrics=self._metrics,
            signer=self._settings.signer(),
            connection_name=f"dueq-scheduler-events {self._settings.scheduler_id}",
        )
        retention = HistoryRetention(
            self._backend.history, self._settings.history_retention, clock=self._clock
        )
        self._threads = [
            threading.Thread(target=self._run, name="dueq-scheduler-loop", daemon=True),
            threading.Thread(target=events.run, name="dueq-scheduler-events", daemon=True),
            threading.Thread(target=feed.run, name="dueq-scheduler-listeners", daemon=True),
            threading.Thread(
                target=retention.run,
                args=(self._stopping, self._leading.is_set),
                name="dueq-scheduler-retention",
                daemon=True,
            ),
        ]
        for thread in self._threads:
            thread.start()

    def wake(self) -> None:
        """Re-plan now (jobs changed in this process)."""
        self._woken.set()

    def pause(self) -> None:
        """Stop publishing (the lease is given up so a standby may take over)."""
        self._paused.set()
        self._woken.set()

    def resume(self) -> None:
        """Publish again."""
        self._paused.clear()
        self._woken.set()

    def stop(self, *, wait: bool = True) -> None:
        """Stop the threads; with ``wait``, return once they have ended.

        The listener feed stops last, after the events consumer has passed on its last
        batch, so this process's listeners still hear the outcomes recorded before the stop.
        """
        self._stopping.set()
        if not wait:
            self._feed_stopping.set()
            return
        others, feed = self._threads[:-1], self._threads[-1:]  # the feed thread is last
        for thread in others:
            thread.join(_JOIN_TIMEOUT_S)
        self._feed_stopping.set()
        for thread in feed:
            thread.join(_JOIN_TIMEOUT_S)

    def _on_leadership(self, leading: bool) -> None:
        lease = self._leadership.lease
        self._metrics.leadership(leading, lease.epoch if leading and lease else None)
        if leading:
            self._leading.set()
        else:
            self._leading.clear()

    def _run(self) -> None:
        logger.info("scheduler %s starting", self._settings.scheduler_id)
        try:
            while not self._stopping.is_set():
                try:
                    self._connect()
                    self._serve()
                except Stopped:
                    break
                except BrokerUnavailable as exc:
                    logger.warning("scheduler lost the broker: %s; reconnecting", exc)
                    self._metrics.reconnected("scheduler")
                except Exception:
                    logger.exception("unexpected error in the scheduler loop; carrying on")
                    self._stopping.wait(_ERROR_PAUSE_S)
                finally:
                    self._disconnect()
        finally:
            self._step_down()
            logger.info("scheduler %s stopped", self._settings.scheduler_id)

    def _connect(self) -> None:
        def connect() -> BrokerConnection:
            connection = BrokerConnection(
                self._settings.broker_url.reveal(),
                name=f"dueq-scheduler {self._settings.scheduler_id}",
            )
            connection.connect()
            try:
                connection.declare_topology(self._topology, ())
                control = connection.declare_control_queue(self._topology)
                consumer = connection.consumer([control], prefetch=10, on_message=self._on_control)
                consumer.start()
            except BaseException:
                connection.close()
                raise
            self._control = consumer
            return connection

        self._connection = retry_until_stopped("broker", logger, connect, self._stopping)
        self._loop = SchedulingLoop(
            store=self._backend.store,
            retries=self._backend.retries,
            leadership=self._leadership,
            publisher=BrokerRunPublisher(
                self._connection, self._topology, signer=self._settings.signer()
            ),
            settings=self._settings,
            emit=self._dispatcher.dispatch,
            clock=self._clock,
            after_publish=self._after_publish,
            metrics=self._metrics,
        )
        logger.info("scheduler connected to %s", self._connection.node_redacted)

    def _disconnect(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()

    def _on_control(self, message: IncomingMessage) -> None:
        self._control.ack(message.delivery_tag)
        self._woken.set()

    def _serve(self) -> None:
        try:
            self._serve_until_stopped()
        finally:
            self._bursting.clear()
            self._drain()

    def _serve_until_stopped(self) -> None:
        while not self._stopping.is_set():
            if self._paused.is_set():
                self._bursting.clear()
                self._drain()
                self._step_down()
                wake_at = self._clock() + timedelta(seconds=self._settings.max_sleep_seconds)
            else:
                wake_at = self._tick()
            self._sleep_until(wake_at)

    def _tick(self) -> datetime:
        try:
            result = retry_until_stopped(
                "database", logger, self._loop.tick, self._stopping, sleep=self._sleep_for
            )
        except PublishError as exc:
            logger.error("the broker refused runs (will retry): %s", exc)
        except LeaseLost as exc:
            self._leadership.lost(str(exc))
        else:
            # Set from one full batch to the next, so the events consumer sees one burst.
            if result.more:
                self._bursting.set()
            else:
                self._bursting.clear()
            return result.wake_at
        self._bursting.clear()
        return self._clock() + timedelta(seconds=_ERROR_PAUSE_S)

    def _drain(self) -> None:
        """Commit the batch in flight before giving up the lead (else it is republished)."""
        try:
            self._loop.drain()
        except Exception as exc:  # its runs are published again, same ids: nothing lost
            logger.warning("could not commit the batch in flight (it will be republished): %s", exc)

    def _sleep_for(self, seconds: float) -> None:
        """Back off while keeping the connection served (heartbeats, control messages)."""
        self._sleep_until(self._clock() + timedelta(seconds=seconds), wakeable=False)
        if self._stopping.is_set():
            raise Stopped

    def _sleep_until(self, wake_at: datetime, *, wakeable: bool = True) -> None:
        assert self._connection is not None
        while not self._stopping.is_set():
            if wakeable and self._woken.is_set():
                break
            remaining = (wake_at - self._clock()).total_seconds()
            if remaining <= 0:
                break
            self._connection.drain_events(min(remaining, _SLICE_S))
        if wakeable:
            self._woken.clear()

    def _step_down(self) -> None:
        if self._leadership.lease is None:
            return
        try:
            self._leadership.release(self._clock())
        except Exception as exc:  # the thread must end cleanly whatever the database says
            logger.warning("could not release the leader lease (it will expire): %s", exc)
            self._leadership.lost("released while the database was unreachable")
