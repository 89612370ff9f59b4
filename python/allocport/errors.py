"""The package's errors: one class per kind, named like the Rust crate's `Error` variants, each
message naming the variable or path and the value that caused it, worded as the Rust one is."""

import errno
import os


def rust_debug(text):
    """`text` quoted as Rust's `{:?}` writes a string, so messages read the same in both."""
    out = []
    for ch in str(text):
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append("\\u{%x}" % ord(ch))
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def os_error_text(error):
    """An `OSError` as Rust prints an `io::Error`: `No such file or directory (os error 2)`."""
    if error.errno is None:
        return str(error)
    return "%s (os error %d)" % (os.strerror(error.errno), error.errno)


class AllocportError(Exception):
    """The base of every error this package raises: catch it to catch them all.

    >>> issubclass(InvalidPortSpec, AllocportError)
    True
    """


class InvalidPortSpec(AllocportError, ValueError):
    """A token of `PYSYS_PORTS` or of a `PYSYS_PORTS_FILE` line is not a port or a range.

    `place` is `PYSYS_PORTS` or `PYSYS_PORTS_FILE <path>, line <n>`."""

    def __init__(self, place, token, reason):
        self.place, self.token, self.reason = place, token, reason
        super().__init__("%s: %s %s" % (place, rust_debug(token), reason))


class PortsFileUnreadable(AllocportError, OSError):
    """`PYSYS_PORTS_FILE` names a file that cannot be opened or read."""

    def __init__(self, path, cause):
        self.path, self.cause = path, cause
        super().__init__(
            "PYSYS_PORTS_FILE: cannot read %s: %s" % (rust_debug(path), os_error_text(cause))
        )


class PortsFileNotUtf8(AllocportError, ValueError):
    """`PYSYS_PORTS_FILE` names a file that is not UTF-8 text; `line` counts from 1."""

    def __init__(self, path, line):
        self.path, self.line = path, line
        super().__init__(
            "PYSYS_PORTS_FILE: %s is not UTF-8 text (line %d)" % (rust_debug(path), line)
        )


class PortsFileNotRegular(AllocportError, ValueError):
    """`PYSYS_PORTS_FILE` names a FIFO, a device or a directory: refused before reading, as it
    could block or never end."""

    def __init__(self, path, kind):
        self.path, self.kind = path, kind
        super().__init__(
            "PYSYS_PORTS_FILE: cannot read %s: it is %s, not a regular file "
            "(give a file of port specifications)" % (rust_debug(path), kind)
        )


class PortsFileTooLarge(AllocportError, ValueError):
    """`PYSYS_PORTS_FILE` names a file larger than `MAX_PORTS_FILE_BYTES`."""

    def __init__(self, path, size, limit):
        self.path, self.size, self.limit = path, size, limit
        super().__init__(
            "PYSYS_PORTS_FILE: cannot read %s: it is %d bytes, more than the %d a ports file "
            "may have" % (rust_debug(path), size, limit)
        )


class EphemeralRange(AllocportError):
    """The operating system's ephemeral port range cannot be read (`what` was read)."""

    def __init__(self, what, reason):
        self.what, self.reason = what, reason
        super().__init__(
            "cannot determine the ephemeral TCP port range (%s): %s" % (what, reason)
        )


class EmptyPool(AllocportError):
    """The pool would have no port in it; `origin` says where the ports came from."""

    def __init__(self, origin):
        self.origin = origin
        super().__init__(
            "the pool of server TCP ports is empty: %s leaves no port once the excluded ports "
            "and those this process may not bind are removed" % origin
        )


class InvalidEnv(AllocportError, ValueError):
    """An environment variable of this package has a value it cannot use."""

    def __init__(self, var, value, reason):
        self.var, self.value, self.reason = var, value, reason
        super().__init__("%s: %s %s" % (var, rust_debug(value), reason))


class Timeout(AllocportError):
    """No port became free within the timeout."""

    def __init__(self, timeout, pool_size, held_here):
        self.timeout, self.pool_size, self.held_here = timeout, pool_size, held_here
        super().__init__(
            "timed out after %.1fs waiting for a free TCP server port: the pool has %d ports, "
            "%d held by this process; the others are claimed by other processes or in use "
            "(see `allocport status`; widen PYSYS_PORTS)" % (timeout, pool_size, held_here)
        )


class StoreUnavailable(AllocportError, OSError):
    """The kernel store cannot be used here: not Linux, or a sandbox (seccomp, systemd
    `RestrictAddressFamilies=`, an LSM) forbids `AF_UNIX` sockets. Never worked around
    silently: processes on two stores would not exclude each other."""

    def __init__(self, reason):
        self.reason = reason
        super().__init__(
            "the kernel claim store is unavailable: %s; ports cannot be shared with other "
            "allocport processes here" % reason
        )


class TooManyOpenFiles(AllocportError, OSError):
    """A claim needs a descriptor and the process has none left (`EMFILE`)."""

    def __init__(self, held, cause):
        self.held, self.cause = held, cause
        super().__init__(
            "cannot claim a port: this process holds %d claims and has no file descriptor left "
            "(%s); raise the limit (`ulimit -n`)" % (held, os_error_text(cause))
        )


def is_in_use(error):
    """Whether an `OSError` from binding a name means another holder has it."""
    return isinstance(error, OSError) and error.errno == errno.EADDRINUSE
