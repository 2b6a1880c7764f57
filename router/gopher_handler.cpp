#include "gopher_handler.hpp"

#include "backend_link.hpp"
#include "menu_rewrite.hpp"

#include <boost/asio/this_coro.hpp>
#include <boost/asio/write.hpp>

namespace got {

template <class Stream>
awaitable<error> handle_gopher(session_state& s, matched_route const& route, Stream& client,
                               net::const_buffer request)
{
    auto const& rs = s.rt.route_state[route.index];
    s.record.routed->route = route.config.name;
    s.record.routed->bytes_in = request.size(); // read from the client, even if never forwarded
    rs.stats->requests.fetch_add(1, std::memory_order_relaxed);

    backend_stream backend(co_await net::this_coro::executor);
    backend_watch watch{s.clk};
    // The request goes with the connect when it will be spliced as it is (the menu
    // rewrite writes its own).
    bool const rewrite = route.config.rewrite_menus && !route.prefix.empty();
    early_bytes early{rewrite ? net::const_buffer() : request};
    // (co_await kept out of conditions: GCC 12 miscompiles some of those.)
    error e = co_await connect_backend(s, route, backend.socket(), &early);
    if (e != error::ok)
        co_return co_await reply_error(s, client, e, backend_failure_text(e));

    if (backend_needs_opening(s))
        e = co_await open_backend(s, route, lowest(client), backend);
    if (e != error::ok && e != error::backend_reset) // a TLS backend's handshake
        co_return co_await reply_error(s, client, e, backend_failure_text(e));
    if (e != error::ok)
        co_return e;
    if (rewrite)
        co_return co_await forward_and_rewrite(s, route, client, backend, request);
    co_return co_await forward_and_splice(s, rs, client, backend, request, early.sent,
                                          bulk_path::splice);
}

template awaitable<error> handle_gopher(session_state&, matched_route const&, tcp_socket&,
                                        net::const_buffer);
template awaitable<error> handle_gopher(session_state&, matched_route const&, tls_stream&,
                                        net::const_buffer);

} // namespace got
