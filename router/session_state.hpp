// What one connection's coroutine holds, in three parts with one rule each:
//   facts      what inspection learnt (connection_facts.hpp): written by the inspect
//              stage, read by match and handle;
//   record     the access record: written as things happen, never read for a decision;
//              its outcome is set once, by run_session, from what serve returned;
//   resources  the snapshot, the listener, the clock and the per-loop budget.
// Plus the little state the stages share: which phase the connection is in (so a
// deadline can be named) and the backend whose counts it holds.
#pragma once

#include "access_log.hpp"
#include "common/awaitable.hpp"
#include "common/gopher.hpp"
#include "connection_clock.hpp"
#include "connection_facts.hpp"
#include "listener_context.hpp"
#include "runtime.hpp"
#include "splice.hpp"

#include <algorithm>
#include <array>
#include <chrono>

namespace got {

// How far a connection got: a deadline before a backend is involved is the handshake
// deadline (inspection), after it the idle one.
enum class session_phase
{
    inspecting,
    with_backend,
};

struct session_state
{
    connection_facts facts;
    access_record record;

    runtime const& rt;
    listener_context const& listener;
    connection_clock clk;

    session_phase phase = session_phase::inspecting;
    bool log_line = true; // false for limit refusals: floods stay cheap
    // The backend connected to; its active counts are released when the session ends.
    backend_candidate const* backend = nullptr;

    session_state(listener_context const& l, runtime const& r, loop_executor const& ex)
        : rt(r)
        , listener(l)
        , clk(ex)
    {}
    session_state(session_state const&) = delete;
    session_state& operator=(session_state const&) = delete;
};

// Why a read from the client ended before its request: the handshake deadline (the
// clock closed the socket, which reads as operation_aborted), the client's clean close,
// or a reset.
inline error read_failure(session_state const& s, boost::system::error_code const& ec)
{
    if (s.clk.expired())
        return error::handshake_timeout;
    return is_clean_eof(ec) ? error::client_closed : error::client_reset;
}

// An outcome known without a wait, as an awaitable: for a dispatcher that is not a
// coroutine itself (it returns its callee's awaitable) and answers at once on a rare path.
inline awaitable<error> immediately(error e)
{
    co_return e;
}

// Writes one Gopher error item and ends the stream cleanly, then reads and discards
// what the client still sends, until its EOF or the deadline: closing a socket with
// unread input sends RST, which can destroy the error item before the client reads it.
// Returns `why`, the outcome the caller reports.
template <class Stream>
awaitable<error> reply_error(session_state& s, Stream& client, error why, std::string_view message)
{
    using namespace std::chrono_literals;
    auto item = gopher::error_item(message);
    s.clk.set_fixed(std::min<connection_clock::clock::duration>(s.rt.cfg->timeouts.handshake, 2s));
    auto [ec, n] = co_await write_all(client, net::buffer(item));
    s.record.routed->bytes_out += n;
    if (ec)
        co_return why;
    co_await finish_client_write(client);
    // Up to 1 MiB (and the deadline), for a client still sending a long refused line.
    std::array<char, 4096> sink;
    for (std::size_t drained = 0; drained < 1024 * 1024;) {
        auto [rec, rn] = co_await lowest(client).async_read_some(net::buffer(sink), use_nothrow);
        if (rec)
            break;
        drained += rn;
    }
    co_return why;
}

} // namespace got
