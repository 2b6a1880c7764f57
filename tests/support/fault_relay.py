#!/usr/bin/env python3
"""A small TCP relay that injects faults, for got-router's fault tests (stdlib only).

    fault_relay.py --target HOST:PORT [--port 0] [fault options]

Listens on 127.0.0.1 (or --host), prints `PORT <n>`, and relays every accepted
connection ("down" side: whoever connected, e.g. got-router or a client) to the
target ("up" side: e.g. a backend or got-router). Bytes flowing up -> down are
the reply direction; the byte counts below count that direction unless
--direction up is given.

Faults (per connection):
    --delay S           wait S seconds before forwarding each chunk (both ways)
    --stall-after N     forward N bytes, then forward nothing more (hold both sockets)
    --reset-after N     forward N bytes, then abort with RST (SO_LINGER 0) on
                        --reset-side: down, up or both (default both)
    --close-after N     forward N bytes, then close both sides cleanly (FIN)
    --drip S            forward one byte at a time, S seconds apart
    --direction D       which direction the byte limits count: down (reply, default) or up

Events, one line each on stdout (t = seconds since the relay started):
    ACCEPT <id> <peer>
    FAULT <id> <kind> <bytes> <t>
    CLOSED <id> <side> <eof|reset> <bytes-relayed-in-the-counted-direction> <t>
"""

import argparse
import asyncio
import socket
import struct
import sys
import time

START = time.monotonic()


def emit(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def now():
    return f"{time.monotonic() - START:.3f}"


def abort(writer):
    """Closes the socket with RST: SO_LINGER on, timeout 0."""
    sock = writer.get_extra_info("socket")
    try:
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    writer.transport.abort()


class Connection:
    def __init__(self, args, ident):
        self.args = args
        self.ident = ident
        self.counted = 0
        self.done = asyncio.Event()
        self.closed_reported = set()

    def report_closed(self, side, how):
        if side not in self.closed_reported:
            self.closed_reported.add(side)
            emit(f"CLOSED {self.ident} {side} {how} {self.counted} {now()}")

    async def pump(self, name, reader, writer, source_side, counted):
        """Copies reader -> writer; applies the faults when this is the counted direction."""
        args = self.args
        while True:
            size = 1 if args.drip is not None else 65536
            if counted:
                for limit in (args.stall_after, args.reset_after, args.close_after):
                    if limit is not None:
                        size = min(size, max(0, limit - self.counted))
            if size == 0:
                await self.fault()
                return
            try:
                chunk = await reader.read(size)
            except (ConnectionResetError, BrokenPipeError, OSError):
                self.report_closed(source_side, "reset")
                self.done.set()
                return
            if not chunk:
                self.report_closed(source_side, "eof")
                try:
                    if writer.can_write_eof():
                        writer.write_eof()
                except OSError:
                    pass
                return
            if args.delay:
                await asyncio.sleep(args.delay)
            if args.drip is not None:
                await asyncio.sleep(args.drip)
            try:
                writer.write(chunk)
                await writer.drain()
            except (ConnectionResetError, BrokenPipeError, OSError):
                other = "up" if source_side == "down" else "down"
                self.report_closed(other, "reset")
                self.done.set()
                return
            if counted:
                self.counted += len(chunk)

    async def fault(self):
        args = self.args
        if args.stall_after is not None and self.counted >= args.stall_after:
            emit(f"FAULT {self.ident} stall {self.counted} {now()}")
            await asyncio.Event().wait()  # forever: cancelled when the relay ends
        # Let what was written reach the peer before an abortive close discards it.
        await asyncio.sleep(0.05)
        if args.reset_after is not None and self.counted >= args.reset_after:
            emit(f"FAULT {self.ident} reset {self.counted} {now()}")
            if args.reset_side in ("down", "both"):
                abort(self.down_writer)
            if args.reset_side in ("up", "both"):
                abort(self.up_writer)
        else:
            emit(f"FAULT {self.ident} close {self.counted} {now()}")
            for writer in (self.down_writer, self.up_writer):
                writer.close()
        self.done.set()

    async def run(self, down_reader, down_writer):
        host, port = self.args.target.rsplit(":", 1)
        try:
            up_reader, up_writer = await asyncio.open_connection(host, int(port))
        except OSError as err:
            emit(f"CONNECT-FAILED {self.ident} {err!r}")
            abort(down_writer)
            return
        self.down_writer, self.up_writer = down_writer, up_writer
        for writer in (down_writer, up_writer):
            writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        count_down = self.args.direction == "down"
        tasks = [
            asyncio.ensure_future(self.pump("up->down", up_reader, down_writer, "up", count_down)),
            asyncio.ensure_future(self.pump("down->up", down_reader, up_writer, "down", not count_down)),
        ]
        waiter = asyncio.ensure_future(self.done.wait())
        both = asyncio.gather(*tasks)
        await asyncio.wait([waiter, both], return_when=asyncio.FIRST_COMPLETED)
        for task in tasks + [waiter]:
            task.cancel()
        for writer in (down_writer, up_writer):
            writer.close()


async def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--target", required=True, help="HOST:PORT to relay to")
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--stall-after", type=int)
    parser.add_argument("--reset-after", type=int)
    parser.add_argument("--reset-side", choices=("down", "up", "both"), default="both")
    parser.add_argument("--close-after", type=int)
    parser.add_argument("--drip", type=float)
    parser.add_argument("--direction", choices=("down", "up"), default="down")
    args = parser.parse_args()

    counter = iter(range(1, 1 << 62))

    async def on_accept(reader, writer):
        ident = next(counter)
        peer = writer.get_extra_info("peername")
        emit(f"ACCEPT {ident} {peer[0]}:{peer[1]}")
        await Connection(args, ident).run(reader, writer)

    server = await asyncio.start_server(on_accept, args.host, args.port, backlog=128)
    emit(f"PORT {server.sockets[0].getsockname()[1]}")
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
