#include "passthrough_handler.hpp"

#include "backend_link.hpp"
#include "zero_copy.hpp"

#include <boost/asio/this_coro.hpp>
#include <boost/asio/write.hpp>

namespace got {

awaitable<error> handle_passthrough(session_state& s, matched_route const& route,
                                    tcp::socket& client, net::const_buffer client_hello)
{
    auto const& rs = s.rt.route_state[route.index];
    s.record.route = route.config.name;
    s.record.bytes_in = client_hello.size();
    rs.stats->requests.fetch_add(1, std::memory_order_relaxed);

    tcp::socket backend(co_await net::this_coro::executor);
    struct backend_watch
    {
        connection_clock& clk;
        ~backend_watch() { clk.backend = nullptr; }
    } watch{s.clk};
    error e = co_await connect_backend(s, route, backend);
    if (e != error::ok)
        co_return e;
    e = co_await send_proxy_header(s, client, backend);
    if (e != error::ok)
        co_return e;
    auto [wec, wn] = co_await net::async_write(backend, client_hello, use_nothrow);
    if (wec)
        co_return error::backend_reset;
    splice_state st;
    st.bytes_in = wn;
    s.record.bytes_in = 0;
    co_await splice(client, backend, st, s.clk);
    s.record.bytes_in = st.bytes_in;
    s.record.bytes_out = st.bytes_out;
    rs.stats->bytes_in.fetch_add(st.bytes_in, std::memory_order_relaxed);
    rs.stats->bytes_out.fetch_add(st.bytes_out, std::memory_order_relaxed);
    co_return st.outcome;
}

} // namespace got
