import logging
import os
import shutil
import tempfile
import unittest

import allocport
from allocport import ports as ports_module
from allocport.spec import SpecRanges, parse_spec


def parse(spec):
    ranges = SpecRanges()
    parse_spec(spec, "PYSYS_PORTS", ranges)
    return ranges.ports()


def message(spec):
    try:
        parse(spec)
    except allocport.InvalidPortSpec as error:
        return str(error)
    raise AssertionError("%r was accepted" % spec)


class SpecTest(unittest.TestCase):
    """The Rust pool's cases (allocport-core/src/spec.rs), with its messages."""

    def test_pysys_example_with_spaces_and_a_reversed_range(self):
        ports = parse("  2000 - 2020, 6000, 6001, 65000, 65020-65018 , 65040-65042 ")
        self.assertEqual(ports, list(range(2000, 2021)) + [6000, 6001, 65000, 65040, 65041, 65042])

    def test_reversed_ranges_are_named_in_one_warning(self):
        ranges = SpecRanges()
        parse_spec("5000-4000, 7", "PYSYS_PORTS", ranges)
        self.assertEqual(
            ranges.reversed_warning(), 'range "5000-4000" (PYSYS_PORTS) is reversed and names no port'
        )
        ranges = SpecRanges()
        parse_spec(",".join("%d-1" % (i + 2) for i in range(8)), "PYSYS_PORTS", ranges)
        warning = ranges.reversed_warning()
        self.assertTrue(warning.startswith('ranges "2-1" (PYSYS_PORTS), "3-1"'), warning)
        self.assertTrue(warning.endswith("(and 3 more reversed ranges)"), warning)

    def test_single_ports_and_empty_tokens(self):
        self.assertEqual(parse("1"), [1])
        self.assertEqual(parse("65535"), [65535])
        self.assertEqual(parse("7-7"), [7])
        self.assertEqual(parse("1-3,"), [1, 2, 3])
        self.assertEqual(parse(" , "), [])
        self.assertEqual(parse("10-20, 15-25, 26, 5-9, 30-30"), list(range(5, 27)) + [30])

    def test_a_non_numeric_token_names_the_variable_and_token(self):
        self.assertEqual(message("2000,abc"), 'PYSYS_PORTS: "abc" is not a port number')

    def test_bad_tokens_are_errors_naming_the_token(self):
        for spec, fragment in [
            ("0", "is not a server port"),
            ("65536", "is above 65535"),
            ("99999999999999999999", "is above 65535"),
            ("100-70000", 'its end "70000" is above 65535'),
            ("0-10", 'its start "0" is not a server port'),
            ("1-2-3", "too many dashes"),
            ("-5", "negative numbers"),
            ("5-", 'its end "" is missing'),
            ("+5", "is not a port number"),
            ("1.5", "is not a port number"),
            ("\uff11\uff12", "is not a port number"),
        ]:
            text = message(spec)
            self.assertTrue(text.startswith("PYSYS_PORTS: "), text)
            self.assertIn('"%s"' % spec, text)
            self.assertIn(fragment, text)

    def test_format_collapses_runs(self):
        self.assertEqual(allocport.format_ports_spec([1, 2, 3, 5, 7, 8, 65535]), "1-3,5,7-8,65535")
        self.assertEqual(allocport.format_ports_spec([]), "")


class ServerPortsTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp()

    def tearDown(self):
        shutil.rmtree(self.dir)

    def file(self, name, data):
        path = os.path.join(self.dir, name)
        with open(path, "wb") as handle:
            handle.write(data)
        return path

    def test_the_variable_wins_and_is_sorted_deduplicated_and_filtered(self):
        server = allocport.server_tcp_ports(
            {"PYSYS_PORTS": "6001, 6000, 3000-3002, 3001", "PYSYS_PORTS_FILE": "/nope"}
        )
        self.assertEqual(server.ports, [3000, 3001, 3002, 6001])
        self.assertEqual(server.source, 'PYSYS_PORTS="6001, 6000, 3000-3002, 3001"')

    def test_a_bad_variable_is_refused(self):
        with self.assertRaises(allocport.InvalidPortSpec) as caught:
            allocport.server_tcp_ports({"PYSYS_PORTS": "2000,abc"})
        self.assertEqual(str(caught.exception), 'PYSYS_PORTS: "abc" is not a port number')

    def test_an_empty_pool_names_the_value(self):
        for spec in ("6000, 6665-6669", " , "):
            with self.assertRaises(allocport.EmptyPool) as caught:
                allocport.server_tcp_ports({"PYSYS_PORTS": spec})
            self.assertIn("empty", str(caught.exception))
        with self.assertRaises(allocport.EmptyPool) as caught:
            allocport.server_tcp_ports({"PYSYS_PORTS": "6000, 6665-6669"})
        self.assertIn('PYSYS_PORTS="6000, 6665-6669"', str(caught.exception))

    def test_empty_variables_fall_through_to_the_os_range(self):
        server = allocport.server_tcp_ports({"PYSYS_PORTS": "", "PYSYS_PORTS_FILE": ""})
        self.assertIn("outside the OS's ephemeral range", server.source)
        low, high = ports_module.ephemeral_tcp_port_range()
        self.assertFalse(any(low <= p <= high for p in server.ports))
        self.assertFalse(set(server.ports) & allocport.DEFAULT_EXCLUDED_TCP_PORTS)

    def test_a_ports_file_with_blank_lines_crlf_and_a_byte_order_mark(self):
        path = self.file("ok.txt", b"\xef\xbb\xbf2000\r\n\r\n2001-2002\n 3000 \n")
        server = allocport.server_tcp_ports({"PYSYS_PORTS_FILE": path})
        self.assertEqual(server.ports, [2000, 2001, 2002, 3000])

    def test_a_garbage_line_names_the_path_line_and_token(self):
        path = self.file("bad.txt", b"2000\n\nfoo\n")
        with self.assertRaises(allocport.InvalidPortSpec) as caught:
            allocport.server_tcp_ports({"PYSYS_PORTS_FILE": path})
        self.assertEqual(
            str(caught.exception), 'PYSYS_PORTS_FILE %s, line 3: "foo" is not a port number' % path
        )

    def test_a_file_not_utf8_names_the_path_and_line(self):
        path = self.file("latin1.txt", b"2000\n\xe9\xff\n")
        with self.assertRaises(allocport.PortsFileNotUtf8) as caught:
            allocport.server_tcp_ports({"PYSYS_PORTS_FILE": path})
        self.assertEqual(str(caught.exception), 'PYSYS_PORTS_FILE: "%s" is not UTF-8 text (line 2)' % path)

    def test_a_missing_file_names_the_path(self):
        with self.assertRaises(allocport.PortsFileUnreadable) as caught:
            allocport.server_tcp_ports({"PYSYS_PORTS_FILE": "/no/such/ports.txt"})
        self.assertEqual(
            str(caught.exception),
            'PYSYS_PORTS_FILE: cannot read "/no/such/ports.txt": No such file or directory (os error 2)',
        )

    def test_a_fifo_a_device_or_a_directory_is_refused_at_once(self):
        fifo = os.path.join(self.dir, "fifo")
        os.mkfifo(fifo)
        for path, kind in [(fifo, "a FIFO"), ("/dev/zero", "a device"), (self.dir, "a directory")]:
            with self.assertRaises(allocport.PortsFileNotRegular) as caught:
                allocport.server_tcp_ports({"PYSYS_PORTS_FILE": path})
            self.assertEqual(
                str(caught.exception),
                'PYSYS_PORTS_FILE: cannot read "%s": it is %s, not a regular file '
                "(give a file of port specifications)" % (path, kind),
            )

    def test_an_oversized_file_is_refused_and_one_at_the_limit_read(self):
        path = self.file("big.txt", b"")
        os.truncate(path, allocport.MAX_PORTS_FILE_BYTES + 1)
        with self.assertRaises(allocport.PortsFileTooLarge) as caught:
            allocport.server_tcp_ports({"PYSYS_PORTS_FILE": path})
        self.assertIn(str(allocport.MAX_PORTS_FILE_BYTES + 1), str(caught.exception))
        path = self.file("limit.txt", b"2000\n".ljust(allocport.MAX_PORTS_FILE_BYTES, b" "))
        self.assertEqual(allocport.server_tcp_ports({"PYSYS_PORTS_FILE": path}).ports, [2000])

    def test_a_reversed_range_is_warned(self):
        with self.assertLogs("allocport", logging.WARNING) as logs:
            allocport.server_tcp_ports({"PYSYS_PORTS": "3000, 9999-9001"})
        self.assertIn('range "9999-9001" (PYSYS_PORTS) is reversed and names no port', logs.output[0])


if __name__ == "__main__":
    unittest.main()
