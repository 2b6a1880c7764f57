// Plaintext to plaintext, HAProxy's `option splice-auto` rule: each direction starts by
// copying through one per-thread buffer (recv, send), which is the cheapest way to move
// small transfers such as TLS handshake messages or a Gopher menu; the first read that
// fills the buffer marks a bulk transfer, and from then on splice(2) moves the bytes
// socket -> pipe -> socket inside the kernel (or, for raw TLS, the copying goes on:
// bulk_path below). Same contract as the buffered pumps in
// splice.hpp: half-close carried through, aborts close both sides, a backend reset
// becomes a reset to the client, and a full socket or pipe (a slow reader) stops reading
// the other side (flow control).
#pragma once

#include "loop_socket.hpp"
#include "splice.hpp"

namespace got {

// What a direction does once a read fills the copy buffer (a bulk transfer).
//  - splice: socket -> pipe -> socket, HAProxy's splice-auto rule. For a Gopher reply,
//    which a gopherd writes in large writes.
//  - copy: go on copying. For raw TLS (passthrough): a TLS peer writes one record of at
//    most 16 KiB at a time, and splicing those record-sized writes costs more CPU per
//    GB than copying them (bench/RESULTS.md, 2026-12-07: 0.90x in six alternating
//    rounds of the two builds), where a Gopher reply measured the other way round
//    (0.30-0.36 s per GB spliced against 0.43-0.60 copied).
enum class bulk_path
{
    splice,
    copy,
};

// Both directions at once, each through its own pipe once it is a bulk transfer
// (bulk_path::splice).
awaitable<void> splice(tcp_socket& client, tcp_socket& backend, splice_state& st,
                       connection_clock& clk, bulk_path bulk);

// For an event loop that has stopped with splices still running (the shutdown grace
// ended): lets go of each one's waiting session, on the loop's own thread, before the
// loop is destroyed. A splice's directions wait with plain callbacks, which own nothing;
// the session's coroutine is held by the splice itself, so without this its frames (and
// sockets, and context) would never be freed. Asio then unwinds each coroutine as it
// does one whose operation is destroyed unfinished: when the loop is destroyed.
void abandon_splices() noexcept;

} // namespace got
