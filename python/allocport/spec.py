"""Parsing of `PYSYS_PORTS` specifications with the Rust pool's rules: comma-separated ports
and inclusive `min-max` ranges, white space allowed around numbers and dashes, empty tokens
skipped, a reversed range naming no port (as in PySys) but warned of; anything else is an
`InvalidPortSpec` naming where it was read and the token."""

from .errors import InvalidPortSpec

_DIGITS = frozenset("0123456789")

#: How many reversed ranges one warning names.
REVERSED_NAMED = 5


class SpecRanges(object):
    """Ports read from specifications, kept as inclusive `(min, max)` intervals."""

    def __init__(self):
        self.ranges = []
        self.reversed = []
        self.reversed_count = 0

    def spans(self):
        """The intervals sorted and merged (overlapping or adjacent ones joined)."""
        merged = []
        for low, high in sorted(self.ranges):
            if merged and low <= merged[-1][1] + 1:
                merged[-1][1] = max(merged[-1][1], high)
            else:
                merged.append([low, high])
        return [(low, high) for low, high in merged]

    def ports(self):
        """The ports, sorted and without duplicates.

        >>> ranges = SpecRanges(); parse_spec("5-7, 6, 9", "PYSYS_PORTS", ranges)
        >>> ranges.ports()
        [5, 6, 7, 9]
        """
        return [port for low, high in self.spans() for port in range(low, high + 1)]

    def reversed_warning(self):
        """The warning for the reversed ranges seen, or `None`: they name no port, as in
        PySys, but are more likely a typo than meant."""
        if not self.reversed:
            return None
        if self.reversed_count == 1:
            listed = "range %s is reversed and names no port" % self.reversed[0]
        else:
            listed = "ranges %s are reversed and name no port" % ", ".join(self.reversed)
        more = self.reversed_count - len(self.reversed)
        return "%s (and %d more reversed ranges)" % (listed, more) if more else listed


def parse_spec(spec, place, into):
    """Parses one specification, adding its ports to `into` (a `SpecRanges`). `place` names
    where it was read in messages: `PYSYS_PORTS` or `PYSYS_PORTS_FILE <path>, line <n>`.

    >>> parse_spec("2000,abc", "PYSYS_PORTS", SpecRanges())
    Traceback (most recent call last):
    ...
    allocport.errors.InvalidPortSpec: PYSYS_PORTS: "abc" is not a port number
    """
    from .errors import rust_debug

    for token in spec.split(","):
        if not token.strip():
            continue
        low, high = _parse_token(token, place)
        if low > high:
            into.reversed_count += 1
            if len(into.reversed) < REVERSED_NAMED:
                into.reversed.append("%s (%s)" % (rust_debug(token.strip()), place))
            continue
        into.ranges.append((low, high))


def _parse_token(token, place):
    def invalid(reason):
        return InvalidPortSpec(place, token.strip(), reason)

    parts = token.split("-")
    if len(parts) == 1:
        port, reason = _parse_port(parts[0])
        if reason:
            raise invalid(reason)
        return port, port
    if len(parts) > 2:
        raise invalid("is not a port or a min-max range (too many dashes)")
    if not parts[0].strip():
        raise invalid(
            "is not a port number (negative numbers and ranges without a start are not allowed)"
        )
    bounds = []
    for which, text in zip(("start", "end"), parts):
        port, reason = _parse_port(text)
        if reason:
            from .errors import rust_debug

            raise invalid("is not a range: its %s %s %s" % (which, rust_debug(text.strip()), reason))
        bounds.append(port)
    return bounds[0], bounds[1]


def _parse_port(text):
    """`(port, None)`, or `(None, reason)` for text that is not a port 1 to 65535."""
    digits = _rust_trim(text)
    if not digits:
        return None, "is missing"
    if not all(ch in _DIGITS for ch in digits):
        return None, "is not a port number"
    number = int(digits)
    if number == 0:
        return None, "is not a server port (ports are 1 to 65535)"
    if number > 65535:
        return None, "is above 65535, the largest port"
    return number, None


def _rust_trim(text):
    # Rust's trim and Python's strip agree on Unicode white space but for a few control
    # characters Python also strips (\x1c-\x1f); the difference only changes which message a
    # token gets, never whether it is accepted.
    return text.strip()


def format_ports_spec(sorted_ports):
    """The shortest specification naming the same sorted ports.

    >>> format_ports_spec([2000, 2001, 2002, 6001])
    '2000-2002,6001'
    """
    out, i = [], 0
    while i < len(sorted_ports):
        start = end = sorted_ports[i]
        while i + 1 < len(sorted_ports) and sorted_ports[i + 1] == end + 1:
            i += 1
            end = sorted_ports[i]
        out.append(str(start) if start == end else "%d-%d" % (start, end))
        i += 1
    return ",".join(out)
