"""What the unit tests share: a store of their own, free ports, and helper processes that
always end within their deadline."""

import os
import random
import subprocess
import sys
import time

# A store no other test run or suite meets: claims here exclude only this run's own.
os.environ["ALLOCPORT_NAMESPACE"] = "pyunit-%d" % os.getpid()

from allocport.pool import port_in_use  # noqa: E402

PYTHON_PATH = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_ports(count):
    """`count` distinct ports below the usual ephemeral range that are free to bind now."""
    found = []
    while len(found) < count:
        port = random.randint(20000, 32000)
        if port not in found and not port_in_use(port, "127.0.0.1"):
            found.append(port)
    return found


class Child(object):
    """A Python child running `code` with this package importable; `expect(line)` reads its
    standard output up to a line, with a deadline. Killed at `close()` if still running."""

    def __init__(self, code):
        env = dict(os.environ, PYTHONPATH=PYTHON_PATH)
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            env=env, universal_newlines=True, bufsize=1,
        )

    def expect(self, wanted, timeout=20.0):
        import select

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.proc.stdout], [], [], deadline - time.monotonic())
            if not ready:
                break
            line = self.proc.stdout.readline()
            if not line:
                break
            if line.strip() == wanted:
                return
        raise AssertionError("the child did not print %r within %ss" % (wanted, timeout))

    def say(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def wait(self, timeout=20.0):
        return self.proc.wait(timeout)

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(20)
        self.proc.stdout.close()
        self.proc.stdin.close()


HOLD_CLAIM = """
import sys, allocport
claim = allocport.try_claim(%d)
print("held" if claim else "refused", flush=True)
sys.stdin.readline()
if claim:
    claim.release()
print("released", flush=True)
"""
