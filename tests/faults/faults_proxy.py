"""A TCP proxy that can cut, stall and restore the connections of processes under test.

It runs an asyncio loop in a thread of the test process and listens on an ephemeral port
of 127.0.0.1; the processes are given a URL with that port instead of the service's.

- ``cut()``: every open connection is reset (both sides see the socket die) and new ones
  are accepted only to be closed at once, like a service that went away.
- ``stall()``: connections stay open but nothing is forwarded either way, like a network
  that silently drops packets (the kernel buffers fill, writers block).
- ``restore()``: new connections are forwarded again, and stalled data flows on.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["TcpProxy"]

T = TypeVar("T")

# Bytes read per chunk: large enough for AMQP frames and SQL results to pass in one step.
_CHUNK = 64 * 1024
# How long a control call waits for the proxy's loop thread (it answers in microseconds).
_CONTROL_TIMEOUT_S = 10.0


class _Pair:
    """Both sockets of one proxied connection."""

    def __init__(self, client: asyncio.StreamWriter, upstream: asyncio.StreamWriter) -> None:
        self.client = client
        self.upstream = upstream

    def abort(self) -> None:
        for writer in (self.client, self.upstream):
            writer.transport.abort()  # RST, not FIN: the peer sees a dead connection


class TcpProxy:
    """Forwards 127.0.0.1:``port`` to ``upstream_host:upstream_port``; see the module doc."""

    def __init__(self, upstream_host: str, upstream_port: int, *, name: str = "proxy") -> None:
        self.name = name
        self._upstream = (upstream_host, upstream_port)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=f"faults-{name}")
        self._server: asyncio.Server | None = None
        self._pairs: set[_Pair] = set()
        self._refusing = False
        self._flowing: asyncio.Event | None = None
        self.port = 0
        self.accepted = 0
        self.refused = 0

    def start(self) -> TcpProxy:
        """Listen on an ephemeral port (``self.port``) and start forwarding."""
        self._thread.start()
        self._call(self._listen())
        return self

    def url_for(self, url: str) -> str:
        """``url`` with its host and port replaced by the proxy's (credentials kept)."""
        scheme, sep, rest = url.partition("://")
        authority, slash, path = rest.partition("/")
        credentials, at, _hostport = authority.rpartition("@")
        return f"{scheme}{sep}{credentials}{at}127.0.0.1:{self.port}{slash}{path}"

    @property
    def open_connections(self) -> int:
        """Connections being forwarded (or held, while stalled) right now."""
        return len(self._pairs)

    def cut(self) -> None:
        """Reset every connection and refuse new ones until ``restore()``."""
        self._call(self._cut())

    def stall(self) -> None:
        """Stop forwarding in both directions (connections stay open) until ``restore()``."""
        self._call(self._set_flowing(False))

    def restore(self) -> None:
        """Accept and forward again."""
        self._call(self._restore())

    def close(self) -> None:
        """Reset every connection, stop listening and end the loop thread."""
        if not self._thread.is_alive():
            return
        self._call(self._shutdown())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(_CONTROL_TIMEOUT_S)
        self._loop.close()

    # -- inside the loop thread -------------------------------------------------------

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(_CONTROL_TIMEOUT_S)

    async def _listen(self) -> None:
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._refusing:
            self.refused += 1
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._upstream)
        except OSError:
            writer.transport.abort()
            return
        self.accepted += 1
        pair = _Pair(writer, up_writer)
        self._pairs.add(pair)
        try:
            await asyncio.gather(self._pump(reader, up_writer), self._pump(up_reader, writer))
        except asyncio.CancelledError:
            pass  # the loop is shutting down; the finally clause resets the sockets
        finally:
            self._pairs.discard(pair)
            pair.abort()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        assert self._flowing is not None
        try:
            while True:
                data = await reader.read(_CHUNK)
                if not data:
                    break
                await self._flowing.wait()
                writer.write(data)
                await writer.drain()
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            writer.transport.abort()  # one side ended: end the other at once

    async def _cut(self) -> None:
        self._refusing = True
        for pair in list(self._pairs):
            pair.abort()

    async def _set_flowing(self, flowing: bool) -> None:
        assert self._flowing is not None
        if flowing:
            self._flowing.set()
        else:
            self._flowing.clear()

    async def _restore(self) -> None:
        self._refusing = False
        await self._set_flowing(True)

    async def _shutdown(self) -> None:
        await self._cut()
        await self._set_flowing(True)  # stalled pumps wake up, find their sockets dead, end
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        if pending:
            await asyncio.wait(pending, timeout=_CONTROL_TIMEOUT_S / 2)
