// Splicing one client stream and one backend socket, both directions at once.
//
// Each direction is a pump with its own fixed buffer: read some, write it all,
// repeat, so a slow reader throttles its writer through TCP (flow control) and
// memory per connection stays at two buffers. Half-close is normal:
//   client EOF  -> backend shutdown(SHUT_WR); the reply keeps flowing;
//   backend EOF -> TLS close_notify, then FIN to the client.
// An abort on either side (reset, write error) closes both sockets at once; a
// backend reset becomes an abortive close (RST) to the client, so a truncated reply
// never looks complete.
#pragma once

#include "backend_stream.hpp"
#include "common/awaitable.hpp"
#include "common/error.hpp"
#include "common/gopher.hpp"
#include "connection_clock.hpp"
#include "drained_receive.hpp"
#include "loop_socket.hpp"
#include "tls_stream.hpp"

#include <array>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/write.hpp>
#include <cerrno>
#include <cstdint>
#include <exception>
#include <optional>
#include <sys/socket.h>
#include <tuple>
#include <type_traits>

namespace got {

using tcp = net::ip::tcp;

struct splice_state
{
    std::uint64_t bytes_in = 0;  // client -> backend
    std::uint64_t bytes_out = 0; // backend -> client
    error outcome = error::ok;   // first abort seen
    // backend_tls_failed: the TLS backend's alert that refused the handshake late.
    boost::system::error_code backend_tls_error;
    bool client_done = false;
    bool backend_done = false;
};

// Backend -> client: one full TLS record per write. Client -> backend carries a
// Gopher request (already read by the session) and rarely anything after it.
inline constexpr std::size_t splice_buffer_size = 16 * 1024;
inline constexpr std::size_t upstream_buffer_size = 4 * 1024;
// Backend reads per wake-up before the reply pump lets the loop's other connections
// run: without a bound, a fast backend and a fast client would hold the loop.
inline constexpr int reads_per_turn = 16;

inline tcp_socket& lowest(tcp_socket& s)
{
    return s;
}
inline tcp_socket& lowest(tls_stream& s)
{
    return s.next_layer();
}
inline tcp_socket& lowest(backend_stream& s)
{
    return s.socket();
}

// Some bytes from a socket: `recv` (MSG_DONTWAIT) first, so bytes already there cost no
// trip through the event loop (Asio's async_read_some completes every read through its
// scheduler, which polls epoll between completions: one `epoll_wait` per two records
// of a bulk TLS reply); `async_wait` only on EAGAIN. Errors as async_read_some gives
// them: eof, operation_aborted for a socket closed here, system errors.
inline awaitable<std::tuple<boost::system::error_code, std::size_t>>
recv_some(tcp_socket& s, net::mutable_buffer b)
{
    for (;;) {
        if (!s.is_open())
            co_return std::tuple{boost::system::error_code(net::error::operation_aborted),
                                 std::size_t{0}};
        // Drained and not reported since (gather_more's EAGAIN): no recv before the wait.
        if (!receive_tries_first(s)) {
            auto [ec] = co_await wait_noted(s, ready_for::read);
            if (ec)
                co_return std::tuple{ec, std::size_t{0}};
        }
        auto n = ::recv(s.native_handle(), b.data(), b.size(), MSG_DONTWAIT);
        if (n > 0)
            co_return std::tuple{boost::system::error_code{}, static_cast<std::size_t>(n)};
        if (n == 0)
            co_return std::tuple{boost::system::error_code(net::error::eof), std::size_t{0}};
        int const e = errno;
        if (e == EINTR)
            continue;
        if (e != EAGAIN && e != EWOULDBLOCK)
            co_return std::tuple{boost::system::error_code(e, boost::system::system_category()),
                                 std::size_t{0}};
        note_would_block(s, ready_for::read);
        auto [ec] = co_await wait_noted(s, ready_for::read); // no epoll_ctl, as async_wait makes
        if (ec)
            co_return std::tuple{ec, std::size_t{0}};
    }
}

// After a short read of `n` bytes into `b`: what else the socket holds now, read into
// the rest of `b` without waiting; the new total in `n`. `ec`: what ended the stream
// right after those bytes (eof for the FIN that came with a reply's last bytes, else a
// system error), clear if it is open and drained (noted, so recv_some waits without
// a recv first) or `b` is full.
inline void gather_more(tcp_socket& s, net::mutable_buffer b, std::size_t& n,
                        boost::system::error_code& ec)
{
    while (n < b.size()) {
        auto r =
            ::recv(s.native_handle(), static_cast<char*>(b.data()) + n, b.size() - n, MSG_DONTWAIT);
        if (r > 0) {
            n += static_cast<std::size_t>(r);
            continue;
        }
        if (r == 0) {
            ec = net::error::eof;
            return;
        }
        int const e = errno;
        if (e == EINTR)
            continue;
        if (e == EAGAIN || e == EWOULDBLOCK)
            note_would_block(s, ready_for::read);
        else
            ec.assign(e, boost::system::system_category());
        return;
    }
}

// The same two operations on either kind of client stream, as (error, bytes).
inline awaitable<std::tuple<boost::system::error_code, std::size_t>>
read_some(tcp_socket& s, net::mutable_buffer b)
{
    return s.async_read_some(b, use_nothrow);
}
inline awaitable<tls_stream::result> read_some(tls_stream& s, net::mutable_buffer b)
{
    return s.async_read_some(b);
}
inline awaitable<std::tuple<boost::system::error_code, std::size_t>> write_all(tcp_socket& s,
                                                                               net::const_buffer b)
{
    return net::async_write(s, b, use_nothrow);
}
inline awaitable<tls_stream::result> write_all(tls_stream& s, net::const_buffer b)
{
    return s.async_write(b);
}

// The backend's side: recv() first on plaintext, the SSL stream for TLS backends.
inline awaitable<std::tuple<boost::system::error_code, std::size_t>>
recv_some(backend_stream& s, net::mutable_buffer b)
{
    if (auto* tls = s.tls())
        return tls->async_read_some(b);
    return recv_some(s.socket(), b);
}
inline awaitable<std::tuple<boost::system::error_code, std::size_t>> write_all(backend_stream& s,
                                                                               net::const_buffer b)
{
    if (auto* tls = s.tls())
        return tls->async_write(b);
    return write_all(s.socket(), b);
}

// The client has finished sending: FIN to a plaintext backend; nothing to a TLS one
// (see backend_stream.hpp).
inline void finish_backend_write(backend_stream& s)
{
    if (s.tls())
        return;
    boost::system::error_code ec;
    s.socket().shutdown(tcp_socket::shutdown_send, ec);
}

// After the exchange: a TLS backend that ended with its close_notify gets ours. Besides
// being the polite end, it keeps the session resumable: OpenSSL marks the session of an
// SSL freed without having sent close_notify as not resumable (ssl_clear_bad_session).
// Callers ask backend_sends_close_notify first, and skip the coroutine's frame when not.
inline bool backend_sends_close_notify(backend_stream& s)
{
    auto* tls = s.tls();
    return tls && (SSL_get_shutdown(tls->native_handle()) & SSL_RECEIVED_SHUTDOWN);
}

inline awaitable<void> finish_backend(backend_stream& s)
{
    if (backend_sends_close_notify(s))
        co_await s.tls()->async_shutdown();
}

// A clean end of the client's byte stream: TCP FIN, or TLS close_notify, or a TLS
// client that closed TCP without close_notify (common and harmless for a request).
inline bool is_clean_eof(boost::system::error_code const& ec)
{
    return ec == net::error::eof || ec == net::ssl::error::stream_truncated;
}

// End of the reply: FIN for plaintext; close_notify then FIN for TLS. tls_stream's
// shutdown sends our close_notify and returns without waiting for the client's. The
// other pump keeps reading until the client's close_notify or FIN (OpenSSL discards
// application data after our close_notify), so the socket is never closed with
// unread bytes in it, which would send RST and could destroy the reply's end.
// `fin` false: the client has finished sending, so the close that follows at once
// sends the FIN (one system call less).
inline awaitable<void> finish_client_write(tcp_socket& s, bool fin = true)
{
    boost::system::error_code ec;
    if (fin)
        s.shutdown(tcp_socket::shutdown_send, ec);
    co_return;
}

inline awaitable<void> finish_client_write(tls_stream& s, bool fin = true)
{
    co_await s.async_shutdown();
    boost::system::error_code ec;
    if (fin)
        s.next_layer().shutdown(tcp_socket::shutdown_send, ec);
}

// Reply bytes to the client: with `last` (the backend's FIN came right after them), a
// TLS client gets close_notify in the same send (tls_stream::async_write_last); only a
// TLS client's pump asks for that (a plaintext client's FIN is a shutdown of its own).
inline awaitable<std::tuple<boost::system::error_code, std::size_t>>
write_reply(tcp_socket& s, net::const_buffer b, bool)
{
    return write_all(s, b);
}
inline awaitable<tls_stream::result> write_reply(tls_stream& s, net::const_buffer b, bool last)
{
    return last ? s.async_write_last(b) : s.async_write(b);
}

// Runs `beside` as its own coroutine next to `inline_part` and completes when both
// have: `a && b` without a parallel_group's shared state, cancellation slots and
// second spawn (per connection, that machinery cost more CPU than our own code). The
// two are never cancelled (the sockets' closing ends them); an exception from either
// is rethrown once both have finished, since both refer to the caller's frame.
// Callers run inline the direction that usually ends last, the client's (a client
// closes after the reply): `beside` has then finished already, and the timer that
// wakes a wait for it is made only when a wait is needed.
inline awaitable<void> both(awaitable<void> beside, awaitable<void> inline_part)
{
    auto ex = co_await net::this_coro::executor;
    std::optional<net::steady_timer> wake;
    bool beside_running = true;
    std::exception_ptr beside_failure;
    net::co_spawn(ex, std::move(beside), [&](std::exception_ptr e) {
        beside_failure = e;
        beside_running = false;
        if (wake)
            wake->cancel();
    });
    std::exception_ptr inline_failure;
    try {
        co_await std::move(inline_part);
    } catch (...) {
        inline_failure = std::current_exception();
    }
    if (beside_running)
        wake.emplace(ex, net::steady_timer::time_point::max());
    while (beside_running) {
        auto [ec] = co_await wake->async_wait(use_nothrow);
        (void)ec; // cancelled when `beside` ends
    }
    if (beside_failure)
        std::rethrow_exception(beside_failure);
    if (inline_failure)
        std::rethrow_exception(inline_failure);
}

inline void abort_both(tcp_socket& client, tcp_socket& backend, bool reset_client)
{
    boost::system::error_code ec;
    if (reset_client && client.is_open())
        client.set_option(net::socket_base::linger(true, 0), ec); // RST, not FIN
    client.close(ec);
    backend.close(ec);
}

inline void abort_both(tcp_socket& client, backend_stream& backend, bool reset_client)
{
    abort_both(client, backend.socket(), reset_client);
}

template <class ClientStream>
awaitable<void> pump_client_to_backend(ClientStream& client, backend_stream& backend,
                                       splice_state& st, connection_clock& clk)
{
    std::array<char, upstream_buffer_size> buf;
    for (;;) {
        auto [rec, n] = co_await read_some(client, net::buffer(buf));
        if (rec) {
            if (is_clean_eof(rec)) {
                // The FIN is for a backend still sending; one that has finished gets
                // it from the close that follows (one system call less).
                if (!st.backend_done)
                    finish_backend_write(backend);
                clk.one_side_done();
            } else if (st.outcome == error::ok && rec != net::error::operation_aborted) {
                st.outcome = error::client_reset;
                abort_both(lowest(client), backend, false);
            }
            break;
        }
        clk.touch();
        st.bytes_in += n;
        auto [wec, wn] = co_await write_all(backend, net::buffer(buf.data(), n));
        if (wec) {
            if (st.outcome == error::ok && wec != net::error::operation_aborted) {
                st.outcome = error::backend_reset;
                abort_both(lowest(client), backend, true);
            }
            break;
        }
    }
    st.client_done = true;
}

// TLS 1.3 ends the client's handshake when it has sent its Finished: a backend that then
// refuses it (a client certificate it does not take) says so with an alert that the
// first read returns. When nothing of the backend has reached the client yet, that is a
// failed handshake, not a reset: the client gets the error item (and FIN), the backend
// socket is closed, and st.outcome says backend_tls_failed. False: not that case.
template <class ClientStream>
awaitable<bool> refused_after_handshake(ClientStream& client, backend_stream& backend,
                                        splice_state& st, connection_clock& clk,
                                        boost::system::error_code const& rec)
{
    if (!backend.tls() || st.outcome != error::ok || st.bytes_out != 0 ||
        rec.category() != net::error::get_ssl_category())
        co_return false;
    st.outcome = error::backend_tls_failed;
    st.backend_tls_error = rec;
    boost::system::error_code ignored;
    backend.socket().close(ignored); // the other pump's write ends too
    auto item = gopher::error_item("Backend TLS handshake failed");
    auto [wec, wn] = co_await write_all(client, net::buffer(item));
    st.bytes_out += wn;
    clk.one_side_done();
    if (!wec)
        co_await finish_client_write(client, !st.client_done);
    co_return true;
}

// Counts a read; every reads_per_turn-th one first lets the loop's other connections
// run (without a bound, a fast backend and a fast client would hold the loop): a pump
// does `if (turn_due(reads)) co_await take_turn();`, so the other reads cost no frame.
inline bool turn_due(int& reads)
{
    if (++reads <= reads_per_turn)
        return false;
    reads = 0;
    return true;
}

inline awaitable<void> take_turn()
{
    co_await net::post(co_await net::this_coro::executor, net::use_awaitable);
}

template <class ClientStream>
awaitable<void> pump_backend_to_client(ClientStream& client, backend_stream& backend,
                                       splice_state& st, connection_clock& clk)
{
    std::array<char, splice_buffer_size> buf;
    int reads = 0;
    for (;;) {
        if (turn_due(reads))
            co_await take_turn();
        auto [rec, n] = co_await recv_some(backend, net::buffer(buf));
        if (rec) {
            bool const refused = co_await refused_after_handshake(client, backend, st, clk, rec);
            if (refused) {
                // answered
            } else if (rec == net::error::eof) {
                clk.one_side_done();
                co_await finish_client_write(client, !st.client_done);
            } else if (st.outcome == error::ok && rec != net::error::operation_aborted) {
                st.outcome = error::backend_reset;
                abort_both(lowest(client), backend, true);
            }
            break;
        }
        // A TLS client of a plaintext backend: a short read is followed at once by the
        // read the next turn would make, so that a FIN that came with the reply's last
        // bytes (a Gopher server writes and closes) sends the last record and
        // close_notify together, one send where a write and a shutdown made two.
        boost::system::error_code after;
        if constexpr (std::is_same_v<ClientStream, tls_stream>) {
            if (!backend.tls() && n < buf.size())
                gather_more(backend.socket(), net::buffer(buf), n, after);
        }
        clk.touch();
        st.bytes_out += n;
        auto [wec, wn] =
            co_await write_reply(client, net::buffer(buf.data(), n), after == net::error::eof);
        if (wec) {
            if (st.outcome == error::ok && wec != net::error::operation_aborted) {
                st.outcome = error::client_reset;
                abort_both(lowest(client), backend, false);
            }
            break;
        }
        if (after == net::error::eof) { // close_notify has gone: the FIN
            clk.one_side_done();
            co_await finish_client_write(lowest(client), !st.client_done);
            break;
        }
        if (after) { // a reset after the last bytes, which have gone on
            if (st.outcome == error::ok) {
                st.outcome = error::backend_reset;
                abort_both(lowest(client), backend, true);
            }
            break;
        }
    }
    st.backend_done = true;
}

// Runs both pumps until both directions are done (or the watchdog closes the sockets).
// (Not a coroutine: both()'s awaitable is the caller's to await.)
template <class ClientStream>
awaitable<void> splice(ClientStream& client, backend_stream& backend, splice_state& st,
                       connection_clock& clk)
{
    return both(pump_backend_to_client(client, backend, st, clk),
                pump_client_to_backend(client, backend, st, clk));
}

} // namespace got
