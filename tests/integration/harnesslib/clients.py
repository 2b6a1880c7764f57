"""Clients: TLS and plaintext connections to the router, from Python's ssl and sockets.

Whole requests (tls_connect, plain_request), byte-level control of the TLS client
(BioTlsClient over memory BIOs), hand-made ClientHello bytes, and many sockets at
once (SocketCrowd). Every read is bounded in time. The command-line clients
(`openssl s_client`, curl) run through RouterTestCase.s_client and run_cmd.
"""

import selectors
import socket
import ssl
import struct
import time

from .config import CLIENT_TIMEOUT, MARGIN


def client_context(alpn=("gopher",), min_version=None):
    """A TLS client context that does not verify: tests check certificates by hand."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    if min_version:
        ctx.minimum_version = min_version
    return ctx


def tls_connect(port, server_hostname, alpn=("gopher",), timeout=CLIENT_TIMEOUT):
    """A handshaken ssl socket to 127.0.0.1:port (no SNI when server_hostname is None)."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        return client_context(alpn).wrap_socket(raw, server_hostname=server_hostname)
    except BaseException:
        raw.close()
        raise


def read_until_close(sock, timeout=CLIENT_TIMEOUT):
    """Reads until the peer closes; returns (data, how) with how in eof/reset/tls_eof.

    Raises TimeoutError when the peer keeps the connection open past `timeout`.
    """
    deadline = time.monotonic() + timeout
    chunks = []
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"connection still open after {timeout}s; got {b''.join(chunks)[:200]!r}")
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(65536)
        except ssl.SSLEOFError:
            return b"".join(chunks), "tls_eof"
        except ssl.SSLError as err:
            return b"".join(chunks), f"tls_error:{err.reason}"
        except ConnectionResetError:
            return b"".join(chunks), "reset"
        except socket.timeout:
            continue
        if not chunk:
            return b"".join(chunks), "eof"
        chunks.append(chunk)


def plain_request(port, request, timeout=CLIENT_TIMEOUT):
    """Sends `request` in one write over plaintext TCP; returns the whole reply."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        return read_until_close(sock, timeout)[0]


def wait_peer_close(sock, timeout):
    """Seconds until the peer closes (EOF, reset or TLS error), and the bytes it sent.

    Raises TimeoutError when it stays open longer than `timeout`.
    """
    start = time.monotonic()
    data, _ = read_until_close(sock, timeout)
    return time.monotonic() - start, data


def reframe_first_record(data, records):
    """`data` with its first TLS record's payload split over `records` records of about
    equal size, each under its own 5-byte header (same type and version)."""
    if len(data) < 5:
        return data
    length = int.from_bytes(data[3:5], "big")
    header, payload, rest = data[:3], data[5:5 + length], data[5 + length:]
    size = -(-len(payload) // records)
    out = b""
    for offset in range(0, len(payload), size):
        part = payload[offset:offset + size]
        out += header + len(part).to_bytes(2, "big") + part
    return out + rest


class BioTlsClient:
    """A TLS client over ssl.MemoryBIO: the test decides how the TLS bytes hit the wire.

    It can dribble the handshake in small pieces, send close_notify while still
    reading (a TLS half-close), and tells whether the server ended with close_notify.
    """

    def __init__(self, port, server_hostname, alpn=("gopher",), timeout=CLIENT_TIMEOUT):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.incoming = ssl.MemoryBIO()
        self.outgoing = ssl.MemoryBIO()
        self.tls = client_context(alpn).wrap_bio(
            self.incoming, self.outgoing, server_side=False, server_hostname=server_hostname
        )
        self.ending = None

    def close(self):
        self.sock.close()

    def _flush(self, piece=None, pause=0.0, records=1):
        data = self.outgoing.read()
        if records > 1:
            data = reframe_first_record(data, records)
        if not piece:
            self.sock.sendall(data)
            return
        for offset in range(0, len(data), piece):
            self.sock.sendall(data[offset : offset + piece])
            time.sleep(pause)

    def _fill(self):
        data = self.sock.recv(65536)
        if data:
            self.incoming.write(data)
        else:
            self.incoming.write_eof()
        return bool(data)

    def handshake(self, piece=None, pause=0.0, records=1):
        """Runs the handshake, sending our TLS bytes `piece` bytes at a time; the
        ClientHello's record re-framed as `records` records (RFC 8446 section 5.1)."""
        first = True
        while True:
            try:
                self.tls.do_handshake()
                self._flush(piece, pause, records if first else 1)
                return
            except ssl.SSLWantReadError:
                self._flush(piece, pause, records if first else 1)
                first = False
                self._fill()

    def send(self, data):
        self.tls.write(data)
        self._flush()

    def send_close_notify(self):
        """Sends close_notify (our write side is done) and keeps the read side open."""
        try:
            self.tls.unwrap()
        except ssl.SSLWantReadError:
            pass
        self._flush()

    def read_until_end(self, timeout=CLIENT_TIMEOUT):
        """Reads the reply; sets self.ending to close_notify, tls_eof or reset."""
        deadline = time.monotonic() + timeout
        chunks = []
        while True:
            try:
                chunk = self.tls.read(65536)
                if not chunk:
                    self.ending = "close_notify"
                    return b"".join(chunks)
                chunks.append(chunk)
                continue
            except ssl.SSLWantReadError:
                pass
            except ssl.SSLZeroReturnError:
                self.ending = "close_notify"
                return b"".join(chunks)
            except ssl.SSLEOFError:
                self.ending = "tls_eof"
                return b"".join(chunks)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"TLS reply still open after {timeout}s")
            self.sock.settimeout(remaining)
            try:
                self._fill()
            except ConnectionResetError:
                self.ending = "reset"
                return b"".join(chunks)

    def tcp_eof_follows(self, timeout=MARGIN):
        """True when the server's TCP FIN follows (nothing but EOF left to read)."""
        self.sock.settimeout(timeout)
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return False


# --------------------------------------------------------------------------
# Raw TLS bytes: records, ClientHellos with an extension replaced


def tls_records(data):
    """Splits TLS bytes into (content_type, body) records; raises ValueError on junk."""
    records = []
    offset = 0
    while offset < len(data):
        if len(data) - offset < 5:
            raise ValueError(f"truncated record header at {offset}: {data[offset:]!r}")
        ctype, _version, length = struct.unpack("!BHH", data[offset : offset + 5])
        if ctype not in (20, 21, 22, 23):
            raise ValueError(f"not a TLS record at {offset}: {data[offset:offset + 16]!r}")
        body = data[offset + 5 : offset + 5 + length]
        if len(body) < length:
            raise ValueError(f"truncated record body at {offset}")
        records.append((ctype, body))
        offset += 5 + length
    return records


def raw_client_hello(server_hostname="a.test", alpn=("gopher",)):
    """The bytes of a real ClientHello (TLS 1.2 and 1.3 offered) from Python's ssl."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = client_context(alpn).wrap_bio(incoming, outgoing, server_hostname=server_hostname)
    try:
        tls.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


def client_hello_with_extension(hello, ext_type, ext_data):
    """A ClientHello record with extension `ext_type` replaced (or added) by `ext_data`.

    Every length is recomputed, so the result parses; the record stays one record
    even past 16 KiB (for oversize tests).
    """
    ctype, version, _ = struct.unpack("!BHH", hello[:5])
    handshake = hello[5:]
    assert ctype == 22 and handshake[0] == 1, "not a ClientHello record"
    body = handshake[4 : 4 + int.from_bytes(handshake[1:4], "big")]
    pos = 2 + 32
    pos += 1 + body[pos]  # session id
    pos += 2 + int.from_bytes(body[pos : pos + 2], "big")  # cipher suites
    pos += 1 + body[pos]  # compression methods
    head, ext_block = body[:pos], body[pos + 2 :]
    extensions = []
    offset = 0
    while offset < len(ext_block):
        etype, elen = struct.unpack("!HH", ext_block[offset : offset + 4])
        extensions.append((etype, ext_block[offset + 4 : offset + 4 + elen]))
        offset += 4 + elen
    replaced = [(t, d) for t, d in extensions if t != ext_type]
    replaced.insert(0, (ext_type, ext_data))
    ext_bytes = b"".join(struct.pack("!HH", t, len(d)) + d for t, d in replaced)
    new_body = head + struct.pack("!H", len(ext_bytes)) + ext_bytes
    new_handshake = b"\x01" + len(new_body).to_bytes(3, "big") + new_body
    return struct.pack("!BHH", 22, version, len(new_handshake)) + new_handshake


def sni_extension(name_bytes):
    """server_name extension data with one host_name entry (any length, even 0)."""
    entry = b"\x00" + struct.pack("!H", len(name_bytes)) + name_bytes
    return struct.pack("!H", len(entry)) + entry


# --------------------------------------------------------------------------
# Many sockets at once


class SocketCrowd:
    """Many plain TCP connections driven by one selectors loop (no thread per socket).

    Each member records when it connected, what it received and when the peer
    closed it (EOF or reset). `drip(data, interval)` sends one byte of `data` per
    member every `interval` seconds until each is closed or the data runs out.
    """

    def __init__(self):
        self.selector = selectors.DefaultSelector()
        self.members = []

    def open(self, port, count, source=None, pace=0.0):
        """Opens `count` connections (from `source` address when given); returns them."""
        opened = []
        for _ in range(count):
            sock = socket.socket()
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if source:
                sock.bind((source, 0))
            sock.settimeout(CLIENT_TIMEOUT)
            try:
                sock.connect(("127.0.0.1", port))
            except ConnectionResetError:
                # Accepted and reset before connect() returned: refused at once.
                member = {"sock": sock, "connected": time.monotonic(),
                          "closed": time.monotonic(), "how": "reset", "data": b"", "sent": 0}
                sock.close()
                self.members.append(member)
                opened.append(member)
                continue
            sock.setblocking(False)
            member = {"sock": sock, "connected": time.monotonic(), "closed": None,
                      "how": None, "data": b"", "sent": 0}
            self.selector.register(sock, selectors.EVENT_READ, member)
            self.members.append(member)
            opened.append(member)
            if pace:
                time.sleep(pace)
        return opened

    def _read(self, member):
        try:
            chunk = member["sock"].recv(65536)
        except BlockingIOError:
            return
        except (ConnectionResetError, ConnectionAbortedError):
            chunk, member["how"] = b"", "reset"
        if chunk:
            member["data"] += chunk
            return
        member["how"] = member["how"] or "eof"
        member["closed"] = time.monotonic()
        self.selector.unregister(member["sock"])

    def poll(self, timeout):
        """Handles reads (and closes) for up to `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            if not self.selector.get_map():
                time.sleep(remaining)
                return
            for key, _ in self.selector.select(remaining):
                self._read(key.data)

    def open_members(self):
        return [m for m in self.members if m["closed"] is None]

    def drip(self, data, interval, until):
        """One byte of `data` per open member every `interval` s, until all close or `until`."""
        next_send = time.monotonic()
        while self.open_members() and time.monotonic() < until:
            now = time.monotonic()
            if now >= next_send:
                for member in self.open_members():
                    if member["sent"] < len(data):
                        try:
                            member["sock"].send(data[member["sent"] : member["sent"] + 1])
                            member["sent"] += 1
                        except (BlockingIOError, OSError):
                            pass
                next_send = now + interval
            self.poll(min(max(0.0, next_send - time.monotonic()), until - time.monotonic(), 0.2))

    def detach(self, member):
        """Takes one open member out of the crowd; returns its socket, blocking again."""
        self.selector.unregister(member["sock"])
        self.members.remove(member)
        member["sock"].setblocking(True)
        member["sock"].settimeout(CLIENT_TIMEOUT)
        return member["sock"]

    def close(self, members=None):
        """Closes the given members (default: all) from our side."""
        for member in list(members if members is not None else self.members):
            if member["closed"] is None:
                self.selector.unregister(member["sock"])
                member["closed"] = time.monotonic()
                member["how"] = "ours"
            member["sock"].close()
            if member in self.members:
                self.members.remove(member)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        self.selector.close()
