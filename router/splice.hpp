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

#include "common/awaitable.hpp"
#include "common/error.hpp"
#include "connection_clock.hpp"
#include "tls_stream.hpp"

#include <array>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/write.hpp>
#include <cstdint>

namespace got {

using tcp = net::ip::tcp;

struct splice_state
{
    std::uint64_t bytes_in = 0;  // client -> backend
    std::uint64_t bytes_out = 0; // backend -> client
    error outcome = error::ok;   // first abort seen
    bool client_done = false;
    bool backend_done = false;
};

// Backend -> client: one full TLS record per write. Client -> backend carries a
// Gopher request (already read by the session) and rarely anything after it.
inline constexpr std::size_t splice_buffer_size = 16 * 1024;
inline constexpr std::size_t upstream_buffer_size = 4 * 1024;

inline tcp::socket& lowest(tcp::socket& s)
{
    return s;
}
inline tcp::socket& lowest(tls_stream& s)
{
    return s.next_layer();
}

// The same two operations on either kind of client stream, as (error, bytes).
inline awaitable<std::tuple<boost::system::error_code, std::size_t>>
read_some(tcp::socket& s, net::mutable_buffer b)
{
    return s.async_read_some(b, use_nothrow);
}
inline awaitable<tls_stream::result> read_some(tls_stream& s, net::mutable_buffer b)
{
    return s.async_read_some(b);
}
inline awaitable<std::tuple<boost::system::error_code, std::size_t>> write_all(tcp::socket& s,
                                                                               net::const_buffer b)
{
    return net::async_write(s, b, use_nothrow);
}
inline awaitable<tls_stream::result> write_all(tls_stream& s, net::const_buffer b)
{
    return s.async_write(b);
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
inline awaitable<void> finish_client_write(tcp::socket& s)
{
    boost::system::error_code ec;
    s.shutdown(tcp::socket::shutdown_send, ec);
    co_return;
}

inline awaitable<void> finish_client_write(tls_stream& s)
{
    co_await s.async_shutdown();
    boost::system::error_code ec;
    s.next_layer().shutdown(tcp::socket::shutdown_send, ec);
}

inline void abort_both(tcp::socket& client, tcp::socket& backend, bool reset_client)
{
    boost::system::error_code ec;
    if (reset_client && client.is_open())
        client.set_option(net::socket_base::linger(true, 0), ec); // RST, not FIN
    client.close(ec);
    backend.close(ec);
}

template <class ClientStream>
awaitable<void> pump_client_to_backend(ClientStream& client, tcp::socket& backend, splice_state& st,
                                       connection_clock& clk)
{
    std::array<char, upstream_buffer_size> buf;
    for (;;) {
        auto [rec, n] = co_await read_some(client, net::buffer(buf));
        if (rec) {
            if (is_clean_eof(rec)) {
                boost::system::error_code ec;
                backend.shutdown(tcp::socket::shutdown_send, ec);
                clk.one_side_done();
            } else if (st.outcome == error::ok && rec != net::error::operation_aborted) {
                st.outcome = error::client_reset;
                abort_both(lowest(client), backend, false);
            }
            break;
        }
        clk.touch();
        st.bytes_in += n;
        auto [wec, wn] =
            co_await net::async_write(backend, net::buffer(buf.data(), n), use_nothrow);
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

template <class ClientStream>
awaitable<void> pump_backend_to_client(ClientStream& client, tcp::socket& backend, splice_state& st,
                                       connection_clock& clk)
{
    std::array<char, splice_buffer_size> buf;
    for (;;) {
        auto [rec, n] = co_await backend.async_read_some(net::buffer(buf), use_nothrow);
        if (rec) {
            if (rec == net::error::eof) {
                clk.one_side_done();
                co_await finish_client_write(client);
            } else if (st.outcome == error::ok && rec != net::error::operation_aborted) {
                st.outcome = error::backend_reset;
                abort_both(lowest(client), backend, true);
            }
            break;
        }
        clk.touch();
        st.bytes_out += n;
        auto [wec, wn] = co_await write_all(client, net::buffer(buf.data(), n));
        if (wec) {
            if (st.outcome == error::ok && wec != net::error::operation_aborted) {
                st.outcome = error::client_reset;
                abort_both(lowest(client), backend, false);
            }
            break;
        }
    }
    st.backend_done = true;
}

// Runs both pumps until both directions are done (or the watchdog closes the sockets).
template <class ClientStream>
awaitable<void> splice(ClientStream& client, tcp::socket& backend, splice_state& st,
                       connection_clock& clk)
{
    using namespace net::experimental::awaitable_operators;
    co_await (pump_client_to_backend(client, backend, st, clk) &&
              pump_backend_to_client(client, backend, st, clk));
}

} // namespace got
