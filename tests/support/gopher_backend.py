#!/usr/bin/env python3
"""A small Gopher backend for got-router's integration tests (stdlib only).

    gopher_backend.py --host 127.0.0.1 --port 0 --name NAME

Binds, then prints `PORT <n>` on stdout so a test learns the port. It then
prints one line per event (`ACCEPT <peer>`, `REQUEST <selector as repr>`,
`EOF-AFTER <n>`) so a test can tell whether a connection reached it.

Per connection it reads the request line (up to LF, CRLF or EOF) and answers:

    size/N      exactly N bytes of deterministic data, then close
    slow/N      N bytes of the same data in small chunks with short sleeps
    trickle/N   N bytes of the same data in 4000-byte chunks 1 ms apart (a short read
                each for a router that keeps up; a backlog after a stall is bulk)
    hang        nothing, ever; the connection stays open until the process ends
    until-eof   reads until the client's EOF, then `NAME eof-after=<n>\r\n`,
                where n counts the bytes after the request line
    other       `NAME selector=<selector>\r\n.\r\n`

Tests compute the expected digest of `size/N` with `expected_sha256(N)`.
"""

import argparse
import hashlib
import random
import socket
import sys
import threading
import time

BLOCK_SIZE = 64 * 1024
SEED = 0x60706572
MAX_LINE = 64 * 1024
# sendall() of a few MiB at a time keeps 1 GiB fast without holding 1 GiB.
SEND_CHUNK_BLOCKS = 64

_BLOCK = random.Random(SEED).randbytes(BLOCK_SIZE)
_print_lock = threading.Lock()


def data_block():
    """The 64 KiB block that `size/N` repeats and truncates."""
    return _BLOCK


def expected_bytes(n):
    """The first n bytes of `size/n` (for small n only)."""
    whole, rest = divmod(n, BLOCK_SIZE)
    return _BLOCK * whole + _BLOCK[:rest]


def expected_sha256(n):
    """Hex sha256 of the `size/n` reply, computed block by block."""
    digest = hashlib.sha256()
    big = memoryview(_BLOCK * SEND_CHUNK_BLOCKS)
    remaining = n
    while remaining >= len(big):
        digest.update(big)
        remaining -= len(big)
    digest.update(big[:remaining])
    return digest.hexdigest()


def emit(line):
    with _print_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def read_request_line(conn):
    """Returns (selector, bytes received after the line, saw_eof)."""
    buf = b""
    while b"\n" not in buf and len(buf) < MAX_LINE:
        chunk = conn.recv(4096)
        if not chunk:
            return buf.rstrip(b"\r").decode("utf-8", "replace"), b"", True
        buf += chunk
    line, _, rest = buf.partition(b"\n")
    return line.rstrip(b"\r").decode("utf-8", "replace"), rest, False


def send_size(conn, n):
    big = memoryview(_BLOCK * SEND_CHUNK_BLOCKS)
    remaining = n
    while remaining > 0:
        piece = big[: min(remaining, len(big))]
        conn.sendall(piece)
        remaining -= len(piece)


def send_slow(conn, n, chunk=512, pause=0.01):
    data = expected_bytes(n)
    for offset in range(0, n, chunk):
        conn.sendall(data[offset : offset + chunk])
        time.sleep(pause)


def hang(conn):
    """Never answers. Drains the client, then holds the socket forever."""
    try:
        while conn.recv(65536):
            pass
    except OSError:
        pass
    while True:
        time.sleep(3600)


def until_eof(conn, name, rest, saw_eof):
    count = len(rest)
    while not saw_eof:
        chunk = conn.recv(65536)
        if not chunk:
            break
        count += len(chunk)
    emit(f"EOF-AFTER {count}")
    conn.sendall(f"{name} eof-after={count}\r\n".encode())


def parse_count(selector, prefix):
    try:
        return int(selector[len(prefix) :])
    except ValueError:
        return None


def serve(conn, name):
    selector, rest, saw_eof = read_request_line(conn)
    emit(f"REQUEST {selector!r}")
    if selector.startswith("size/") and parse_count(selector, "size/") is not None:
        send_size(conn, parse_count(selector, "size/"))
    elif selector.startswith("slow/") and parse_count(selector, "slow/") is not None:
        send_slow(conn, parse_count(selector, "slow/"))
    elif selector.startswith("trickle/") and parse_count(selector, "trickle/") is not None:
        send_slow(conn, parse_count(selector, "trickle/"), chunk=4000, pause=0.001)
    elif selector == "hang":
        hang(conn)
    elif selector == "until-eof":
        until_eof(conn, name, rest, saw_eof)
    else:
        conn.sendall(f"{name} selector={selector}\r\n.\r\n".encode())


def handle(conn, peer, name):
    emit(f"ACCEPT {peer[0]}:{peer[1]}")
    try:
        serve(conn, name)
    except OSError as err:
        emit(f"ERROR {err!r}")
    finally:
        conn.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--name", default="backend")
    args = parser.parse_args()

    server = socket.create_server((args.host, args.port), backlog=128)
    emit(f"PORT {server.getsockname()[1]}")
    while True:
        conn, peer = server.accept()
        threading.Thread(target=handle, args=(conn, peer, args.name), daemon=True).start()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
