#include "passthrough_handler.hpp"

#include "backend_link.hpp"
#include "drained_receive.hpp"

#include <boost/asio/this_coro.hpp>
#include <boost/asio/write.hpp>

namespace got {

awaitable<error> handle_passthrough(session_state& s, matched_route const& route,
                                    tcp_socket& client, net::const_buffer client_hello)
{
    auto const& rs = s.rt.route_state[route.index];
    s.record.routed->route = route.config.name;
    s.record.routed->bytes_in = client_hello.size();
    rs.stats->requests.fetch_add(1, std::memory_order_relaxed);

    backend_stream backend(co_await net::this_coro::executor);
    backend_watch watch{s.clk};
    early_bytes early{client_hello};
    error e = co_await connect_backend(s, route, backend.socket(), &early);
    if (e != error::ok)
        co_return e;
    // (The loader refuses `tls` on a passthrough route's backends: this is plaintext.)
    if (backend_wants_proxy_header(s))
        e = co_await send_proxy_header(s, client, backend.socket());
    if (e != error::ok)
        co_return e;
    // A TLS client sends in several short flights (its Finished, the request, a
    // close_notify): the accepted socket is registered with EPOLLRDHUP (fresh_socket.hpp),
    // so each short read marks it drained and the next waits for epoll, where without it
    // each would cost a read that finds nothing.
    // Raw TLS comes in records of at most 16 KiB: copied, not spliced (zero_copy.hpp).
    co_return co_await forward_and_splice(s, rs, client, backend, client_hello, early.sent,
                                          bulk_path::copy);
}

} // namespace got
