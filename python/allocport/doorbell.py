"""Doorbells: how a release wakes the processes waiting for one, across processes.

A waiter binds the lowest free doorbell name (a datagram socket); a releaser sends the released
port's two bytes (big-endian; an empty datagram means "some port") to doorbell 0, 1, 2, ... and
stops at the first that nobody has bound (docs/protocol.md). Waiters look
again at least every 250 ms anyway, so a ring that is missed only costs that."""

import errno
import select
import socket
import struct
import time

from . import names

#: The longest a waiter sleeps before it looks again, rung or not.
LOOK_AGAIN_SECS = 0.25


def ring_doorbells(port=None, pfx=None):
    """Wakes every waiter of the store after `port` was released (`None`: some port); returns
    how many doorbells answered.

    >>> ring_doorbells(8080, pfx="allocport-doctest-nobody-waits")
    0
    """
    pfx = pfx or names.prefix()
    message = b"" if port is None else struct.pack(">H", port)
    rung = 0
    sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        for number in range(names.DOORBELLS):
            try:
                sender.sendto(message, socket.MSG_DONTWAIT, names.doorbell_name(number, pfx))
            except BlockingIOError:
                pass  # its queue is full: it has been rung already
            except ConnectionRefusedError:
                break  # nobody has this number, so nobody has a higher one that matters
            except OSError as error:
                if error.errno in (errno.EAGAIN, errno.EWOULDBLOCK):
                    pass
                else:
                    break
            rung += 1
    finally:
        sender.close()
    return rung


class Doorbell(object):
    """A waiter's doorbell: bound to the lowest free number, and moved lower when it can be.

    >>> with Doorbell(pfx="allocport-doctest-bell") as bell:
    ...     ring_doorbells(8080, pfx="allocport-doctest-bell"), bell.wait(1.0)
    (1, True)
    """

    def __init__(self, pfx=None):
        self._pfx = pfx or names.prefix()
        self._sock, self.number = None, None
        self._move_lower()

    def _move_lower(self):
        """Binds the lowest free number below the current one (all of them at first)."""
        upto = names.DOORBELLS if self.number is None else self.number
        for number in range(upto):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            try:
                sock.bind(names.doorbell_name(number, self._pfx))
            except OSError:
                sock.close()
                continue
            sock.setblocking(False)
            self.close()
            self._sock, self.number = sock, number
            return

    def wait(self, timeout):
        """Sleeps until rung or for `timeout` seconds (at most `LOOK_AGAIN_SECS`); drains the
        rings, moves lower if it can, and says whether it was rung. Any ring wakes it, whichever
        port it names: looking again costs a pass over a small queue."""
        timeout = max(0.0, min(timeout, LOOK_AGAIN_SECS))
        if self._sock is None:
            # All 64 taken: poll, as the protocol allows.
            time.sleep(timeout)
            self._move_lower()
            return False
        ready, _, _ = select.select([self._sock], [], [], timeout)
        rung = bool(ready)
        while True:
            try:
                self._sock.recv(1)
            except OSError:
                break
            rung = True
        self._move_lower()
        return rung

    def close(self):
        sock, self._sock, self.number = self._sock, None, None
        if sock is not None:
            sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
