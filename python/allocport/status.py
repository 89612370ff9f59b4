"""Who holds which claims now: the names come from `/proc/net/unix`, the holders' pids from
matching socket inodes under `/proc/*/fd` (other users' processes are seen only by root)."""

import os
import re


def claims(pfx):
    """`{(transport, port): inode}` for every claim of the store `pfx` bound now.

    >>> claims("allocport-doctest-nothing-here")
    {}
    """
    try:
        with open("/proc/net/unix", "rb") as handle:
            table = handle.read()
    except OSError:
        return {}
    # NULs show as '@'; the two binary bytes may be anything, a newline included, so the
    # table is matched as a whole rather than line by line.
    pattern = re.compile(
        rb" (\d+) @" + re.escape(pfx.encode()) + rb"/(tcp|udp)/(\d+)@..$", re.DOTALL | re.M
    )
    found = {}
    for inode, transport, port in pattern.findall(table):
        found[(transport.decode(), int(port))] = int(inode)
    return found


def socket_owners(inodes):
    """`{inode: pid}` for the sockets among `inodes` that a visible process holds."""
    wanted, owners = set(inodes), {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        fd_dir = "/proc/%s/fd" % pid
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(os.path.join(fd_dir, fd))
            except OSError:
                continue
            if target.startswith("socket:["):
                inode = int(target[8:-1])
                if inode in wanted:
                    owners[inode] = int(pid)
    return owners


def command_of(pid):
    """The command line of `pid`, as one string (empty when it cannot be read)."""
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as handle:
            return handle.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def holders(pfx):
    """`[(pid or None, transport, port)]`, sorted, for every claim of the store now."""
    found = claims(pfx)
    owners = socket_owners(found.values())
    return sorted(
        ((owners.get(inode), transport, port) for (transport, port), inode in found.items()),
        key=lambda row: (row[0] or 0, row[1], row[2]),
    )
