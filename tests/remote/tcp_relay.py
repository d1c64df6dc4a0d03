"""A TCP relay in front of a server, which can go away and come back on the same port.

It stands for the store's network endpoint: ``stop()`` closes the listening
socket and every open connection (clients get "connection refused", as from a
stopped server) and ``start()`` listens again on the same port, while the
server behind keeps its data, so a test can check that nothing written before
the outage was lost.

Example:
    >>> import socket, threading
    >>> backend = socket.create_server(("127.0.0.1", 0))
    >>> def echo():
    ...     connection, _ = backend.accept()
    ...     connection.sendall(connection.recv(16))
    ...     connection.close()
    >>> threading.Thread(target=echo, daemon=True).start()
    >>> relay = TcpRelay(backend.getsockname()[1]); relay.start()
    >>> with socket.create_connection(("127.0.0.1", relay.port)) as client:
    ...     client.sendall(b"ping")
    ...     client.recv(16)
    b'ping'
    >>> relay.stop(); backend.close()
"""

from __future__ import annotations

import contextlib
import socket
import threading

from tests.server_process import free_port


class TcpRelay:
    """Forwards 127.0.0.1:``port`` to 127.0.0.1:``target_port`` while started."""

    def __init__(self, target_port: int, port: int | None = None) -> None:
        self.target_port = target_port
        self.port = port or free_port()
        self._listener: socket.socket | None = None
        self._connections: set[socket.socket] = set()
        self._lock = threading.Lock()

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def stop(self) -> None:
        """Refuse new connections and cut the open ones."""
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        with self._lock:
            connections, self._connections = self._connections, set()
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
            connection.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=10)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._connections |= {client, upstream}
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with self._lock:
                self._connections -= {source, sink}
            for end in (source, sink):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)
                end.close()
