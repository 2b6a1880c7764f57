#!/usr/bin/env python3
"""A Gopher backend that expects a PROXY protocol header (v1 or v2) first (stdlib only).

    proxy_backend.py --host 127.0.0.1 --port 0 --name NAME [--tls CERT KEY]

Binds, then prints `PORT <n>` on stdout, like gopher_backend.py, and one line per
event: `ACCEPT <peer>`, `HEADER <fields>`, `BAD <reason>`, `REQUEST <selector repr>`.

Per connection it reads and strictly checks the PROXY header, then the request
line, and answers with what it saw, as one line of space-separated key=value
fields and the Gopher terminator:

    NAME version=2 command=PROXY family=TCP4 src=127.0.0.1:40000 dst=127.0.0.1:7070
         authority=a.test ssl_client=1 tls_version=TLSv1.3 alpn=- tlvs=2,32 selector=sel

(`ssl_cn=` is the PP2_SUBTYPE_SSL_CN TLV, its spaces as underscores.)

(one line). A missing or malformed header gets `NAME BAD <reason>` and a close.

With `--tls CERT KEY` the connection turns TLS after the header (as a GoT server behind
HAProxy's `send-proxy` does: the header in clear, then the handshake, ALPN `gopher`
selected): the header is read byte by byte so no byte of the ClientHello is taken, a
`TLS <version> <alpn>` line is printed, and the request is read and answered through TLS.
"""

import argparse
import ipaddress
import socket
import ssl
import struct
import sys
import threading

V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
V1_MAX = 107
MAX_LINE = 64 * 1024

_print_lock = threading.Lock()


def emit(line):
    with _print_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


class BadHeader(Exception):
    pass


class Reader:
    """Buffered exact reads from a socket."""

    def __init__(self, conn, chunk=4096):
        self.conn = conn
        self.chunk = chunk
        self.buf = b""

    def fill(self):
        chunk = self.conn.recv(self.chunk)
        if not chunk:
            raise BadHeader(f"EOF after {len(self.buf)} bytes")
        self.buf += chunk

    def exactly(self, n):
        while len(self.buf) < n:
            self.fill()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def line(self, limit):
        """Up to and including CRLF; BadHeader when there is none within `limit` bytes."""
        while b"\r\n" not in self.buf[:limit]:
            if len(self.buf) >= limit:
                raise BadHeader(f"no CRLF within {limit} bytes")
            self.fill()
        end = self.buf.index(b"\r\n") + 2
        data, self.buf = self.buf[:end], self.buf[end:]
        return data


def _port(text):
    if not text.isdigit() or (len(text) > 1 and text[0] == "0") or int(text) > 65535:
        raise BadHeader(f"bad port {text!r}")
    return int(text)


def _endpoint(address, port):
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def parse_v1(reader):
    line = reader.line(V1_MAX).decode("ascii", "replace")[:-2]
    parts = line.split(" ")
    if parts[0] != "PROXY" or len(parts) < 2:
        raise BadHeader(f"bad v1 line {line!r}")
    if parts[1] == "UNKNOWN":
        return {"version": "1", "command": "PROXY", "family": "UNKNOWN"}
    if len(parts) != 6 or parts[1] not in ("TCP4", "TCP6"):
        raise BadHeader(f"bad v1 line {line!r}")
    cls = ipaddress.IPv4Address if parts[1] == "TCP4" else ipaddress.IPv6Address
    try:
        src, dst = cls(parts[2]), cls(parts[3])
    except ValueError as err:
        raise BadHeader(f"bad v1 address: {err}") from None
    return {"version": "1", "command": "PROXY", "family": parts[1],
            "src": _endpoint(str(src), _port(parts[4])), "dst": _endpoint(str(dst), _port(parts[5]))}


def parse_tlvs(data, fields, types):
    offset = 0
    while offset < len(data):
        if len(data) - offset < 3:
            raise BadHeader("truncated TLV header")
        ttype, tlen = struct.unpack("!BH", data[offset : offset + 3])
        value = data[offset + 3 : offset + 3 + tlen]
        if len(value) != tlen:
            raise BadHeader(f"TLV 0x{ttype:02x} overruns the header")
        types.append(ttype)
        if ttype == 0x01:
            fields["alpn"] = value.decode("ascii", "replace")
        elif ttype == 0x02:
            fields["authority"] = value.decode("ascii", "replace")
        elif ttype == 0x20:
            if len(value) < 5:
                raise BadHeader("short SSL TLV")
            client, verify = struct.unpack("!BI", value[:5])
            fields["ssl_client"] = str(client)
            fields["ssl_verify"] = str(verify)
            parse_tlvs(value[5:], fields, types)
        elif ttype == 0x21:
            fields["tls_version"] = value.decode("ascii", "replace")
        elif ttype == 0x22:
            fields["ssl_cn"] = value.decode("utf-8", "replace").replace(" ", "_")
        offset += 3 + tlen


def parse_v2(reader):
    reader.exactly(len(V2_SIGNATURE))
    ver_cmd, fam, length = struct.unpack("!BBH", reader.exactly(4))
    if ver_cmd >> 4 != 2 or ver_cmd & 0x0F not in (0, 1):
        raise BadHeader(f"bad v2 version/command 0x{ver_cmd:02x}")
    body = reader.exactly(length)
    fields = {"version": "2", "command": "PROXY" if ver_cmd & 0x0F else "LOCAL"}
    if fam == 0x11:
        if length < 12:
            raise BadHeader("v2 TCP4 too short")
        src, dst = ipaddress.IPv4Address(body[0:4]), ipaddress.IPv4Address(body[4:8])
        sport, dport = struct.unpack("!HH", body[8:12])
        fields.update(family="TCP4", src=_endpoint(str(src), sport), dst=_endpoint(str(dst), dport))
        rest = body[12:]
    elif fam == 0x21:
        if length < 36:
            raise BadHeader("v2 TCP6 too short")
        src, dst = ipaddress.IPv6Address(body[0:16]), ipaddress.IPv6Address(body[16:32])
        sport, dport = struct.unpack("!HH", body[32:36])
        fields.update(family="TCP6", src=_endpoint(str(src), sport), dst=_endpoint(str(dst), dport))
        rest = body[36:]
    elif fam == 0x00:
        fields["family"] = "UNSPEC"
        rest = b""
    else:
        raise BadHeader(f"unexpected v2 family 0x{fam:02x}")
    types = []
    parse_tlvs(rest, fields, types)
    fields["tlvs"] = ",".join(str(t) for t in types) or "-"
    return fields


def read_header(reader):
    while len(reader.buf) < 6:
        reader.fill()
    if reader.buf.startswith(b"PROXY "):
        return parse_v1(reader)
    while len(reader.buf) < len(V2_SIGNATURE) and V2_SIGNATURE.startswith(reader.buf):
        reader.fill()
    if reader.buf.startswith(V2_SIGNATURE):
        return parse_v2(reader)
    raise BadHeader(f"no PROXY header: {reader.buf[:32]!r}")


def handle(conn, peer, name, tls=None):
    try:
        emit(f"ACCEPT {peer[0]}:{peer[1]}")
        conn.settimeout(30)
        reader = Reader(conn, 1 if tls else 4096)
        try:
            fields = read_header(reader)
        except BadHeader as err:
            emit(f"BAD {err}")
            conn.sendall(f"{name} BAD {err}\r\n".encode())
            return
        summary = " ".join(f"{k}={v}" for k, v in fields.items())
        emit(f"HEADER {summary}")
        if tls:
            conn = tls.wrap_socket(conn, server_side=True)
            emit(f"TLS {conn.version()} {conn.selected_alpn_protocol() or '-'}")
            reader.conn = conn
        while b"\n" not in reader.buf and len(reader.buf) < MAX_LINE:
            chunk = conn.recv(4096)
            if not chunk:
                break
            reader.buf += chunk
        selector = reader.buf.partition(b"\n")[0].rstrip(b"\r").decode("utf-8", "replace")
        emit(f"REQUEST {selector!r}")
        conn.sendall(f"{name} {summary} selector={selector}\r\n.\r\n".encode())
        if tls:
            conn = conn.unwrap()  # close_notify: the reply is complete
    except OSError:
        pass
    finally:
        try:
            conn.close()
        except OSError:
            pass


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--name", default="P")
    parser.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    args = parser.parse_args()
    tls = None
    if args.tls:
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(*args.tls)
        tls.set_alpn_protocols(["gopher"])
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind((args.host, args.port))
    server.listen(128)
    emit(f"PORT {server.getsockname()[1]}")
    while True:
        conn, peer = server.accept()
        threading.Thread(target=handle, args=(conn, peer, args.name, tls), daemon=True).start()


if __name__ == "__main__":
    main()
