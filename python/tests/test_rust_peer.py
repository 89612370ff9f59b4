"""The Python claims against allocport's Rust command, both ways: run where `ALLOCPORT_BIN`
names a built `allocport` (tests/pysys/run.sh sets it), skipped elsewhere."""

import os
import subprocess
import unittest

import allocport

from .support import Child, free_ports

BIN = os.environ.get("ALLOCPORT_BIN")


def rust_exec(ports, *command, timeout=60):
    """`allocport exec -n 1` on the pool `ports`, with a short allocation timeout."""
    env = dict(os.environ, PYSYS_PORTS=",".join(str(p) for p in ports), ALLOCPORT_TIMEOUT_SECS="2")
    return subprocess.run([BIN, "exec", "-n", "1", "--"] + list(command), env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=timeout)


@unittest.skipUnless(BIN, "ALLOCPORT_BIN does not name an allocport command")
class RustPeerTest(unittest.TestCase):
    def test_the_rust_command_skips_a_port_claimed_here(self):
        ports = free_ports(2)
        with allocport.try_claim(ports[0]):
            for _ in range(3):
                done = rust_exec(ports, "sh", "-c", "echo $ALLOCPORT_PORTS")
                self.assertEqual(done.returncode, 0, done.stderr)
                self.assertEqual(done.stdout.strip(), str(ports[1]))

    def test_the_rust_command_waits_for_the_only_port_claimed_here(self):
        ports = free_ports(1)
        with allocport.try_claim(ports[0]):
            done = rust_exec(ports, "true")
        self.assertNotEqual(done.returncode, 0)
        self.assertIn("timed out", done.stderr)

    def test_a_port_the_rust_command_holds_is_refused_here(self):
        ports = free_ports(1)
        env = dict(os.environ, PYSYS_PORTS=str(ports[0]))
        holder = subprocess.Popen([BIN, "exec", "-n", "1", "--", "sh", "-c", "echo held; read line; exit 0"],
                                  env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  universal_newlines=True)
        try:
            self.assertEqual(holder.stdout.readline().strip(), "held")
            self.assertTrue(allocport.is_claimed(ports[0]))
            self.assertIsNone(allocport.try_claim(ports[0]))
            holder.stdin.close()
            self.assertEqual(holder.wait(20), 0)
            with allocport.try_claim(ports[0]) as claim:
                self.assertIsNotNone(claim)
        finally:
            if holder.poll() is None:
                holder.kill()
            holder.wait(20)
            holder.stdout.close()

    def test_the_rust_status_names_a_python_holder(self):
        ports = free_ports(1)
        child = Child("import sys, allocport\nc = allocport.try_claim(%d)\nprint('held', flush=True)\nsys.stdin.readline()\n" % ports[0])
        try:
            child.expect("held")
            status = subprocess.run([BIN, "status"], stdout=subprocess.PIPE,
                                    universal_newlines=True, timeout=30).stdout
            rows = [line for line in status.splitlines() if line.startswith(str(child.proc.pid))]
            self.assertEqual(len(rows), 1, status)
            self.assertIn(str(ports[0]), rows[0])
        finally:
            child.close()


if __name__ == "__main__":
    unittest.main()
