"""The one test of the shared-pool project, which each test directory runs: two ports from
PySys, a holder server bound on both, and a connection to each that must be greeted by this
test's own server (so the port was really ours)."""

import os
import socket
import sys

from pysys.basetest import BaseTest

HERE = os.path.dirname(os.path.abspath(__file__))


class TwoPortsTest(BaseTest):
    def execute(self):
        ports = [self.getNextAvailableTCPPort(), self.getNextAvailableTCPPort()]
        self.holder = "pysys-%s-%s-%d" % (
            os.environ.get("SHARED_POOL_RUN", "run"), self.descriptor.id, os.getpid()
        )
        self.ports = ports
        self.server = self.startProcess(
            sys.executable,
            [os.path.join(HERE, "holder.py"), "--holder", self.holder,
             "--record", os.environ["SHARED_POOL_RECORD"],
             "--hold", os.environ.get("SHARED_POOL_HOLD_SECS", "1.0")] + [str(p) for p in ports],
            stdouterr="holder", background=True,
        )
        self.waitForGrep("holder.out", "listening on|cannot bind", timeout=60, abortOnError=True)
        self.greetings = [self.greeting(port) for port in ports]
        self.waitProcess(self.server, timeout=120)

    def greeting(self, port):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
                conn.settimeout(10)
                return conn.recv(200).decode().strip()
        except OSError as error:
            return "no server: %s" % error

    def validate(self):
        self.assertThat("ports_distinct", ports_distinct=len(set(self.ports)) == 2)
        self.assertGrep("holder.out", "listening on %d,%d" % tuple(self.ports))
        self.assertThat("exitStatus == 0", exitStatus=self.server.exitStatus)
        for port, greeting in zip(self.ports, self.greetings):
            self.assertThat("greeting == expected", greeting=greeting,
                            expected="%s %d" % (self.holder, port))
