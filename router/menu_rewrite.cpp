#include "menu_rewrite.hpp"

#include "backend_link.hpp"
#include "common/gopher_menu.hpp"
#include "selector_routing.hpp"
#include "splice.hpp"

#include <array>
#include <optional>
#include <string>

namespace got {

namespace {

// Reads the whole reply into `reply`, up to the cap; true when it ended (EOF) within it.
// A failure is recorded in `st` (both sockets closed) and returns nullopt.
template <class ClientStream>
awaitable<std::optional<bool>> hold_reply(backend_stream& backend, std::string& reply,
                                          splice_state& st, connection_clock& clk,
                                          ClientStream& client)
{
    std::array<char, splice_buffer_size> buf;
    int reads = 0;
    while (reply.size() <= gopher_menu::max_menu_size) {
        if (turn_due(reads))
            co_await take_turn();
        auto [rec, n] = co_await recv_some(backend, net::buffer(buf));
        if (rec == net::error::eof)
            co_return true;
        if (rec) {
            bool refused = false;
            if (reply.empty()) // (co_await kept out of conditions: GCC 12)
                refused = co_await refused_after_handshake(client, backend, st, clk, rec);
            if (!refused && st.outcome == error::ok && rec != net::error::operation_aborted) {
                st.outcome = error::backend_reset;
                abort_both(lowest(client), backend, true);
            }
            co_return std::nullopt;
        }
        clk.touch();
        reply.append(buf.data(), n);
    }
    co_return false;
}

template <class ClientStream>
awaitable<void> pump_menu_to_client(ClientStream& client, backend_stream& backend, splice_state& st,
                                    connection_clock& clk, gopher_menu::rewrite_rule rule,
                                    prefix_metrics* stats)
{
    std::string reply;
    auto ended = co_await hold_reply(backend, reply, st, clk, client);
    if (!ended) {
        st.backend_done = true;
        co_return;
    }
    std::optional<std::string> rewritten;
    if (*ended)
        rewritten = gopher_menu::rewrite(reply, rule);
    if (rewritten && stats)
        stats->menus_rewritten.fetch_add(1, std::memory_order_relaxed);
    std::string const& out = rewritten ? *rewritten : reply;
    auto [wec, wn] = co_await write_all(client, net::buffer(out));
    st.bytes_out += wn;
    if (wec) {
        if (st.outcome == error::ok && wec != net::error::operation_aborted) {
            st.outcome = error::client_reset;
            abort_both(lowest(client), backend, false);
        }
        st.backend_done = true;
        co_return;
    }
    std::string().swap(reply);
    rewritten.reset();
    if (*ended) {
        clk.one_side_done();
        co_await finish_client_write(client, !st.client_done);
        st.backend_done = true;
        co_return;
    }
    co_await pump_backend_to_client(client, backend, st, clk); // not a menu: the rest
}

} // namespace

template <class ClientStream>
awaitable<error> forward_and_rewrite(session_state& s, matched_route const& route,
                                     ClientStream& client, backend_stream& backend,
                                     net::const_buffer first)
{
    auto const& rs = s.rt.route_state[route.index];
    auto [wec, wn] = co_await write_all(backend, first);
    if (wec)
        co_return error::backend_reset;
    auto const& pub = *route.config.rewrite_menus;
    auto const& own = s.backend->config->address;
    std::array<gopher_menu::host_port, 1> const backend_names{
        gopher_menu::host_port{own.host, own.port}};
    gopher_menu::rewrite_rule const rule{route.prefix, {pub.host, pub.port}, backend_names};
    splice_state st;
    st.bytes_in = wn;
    s.record.routed->bytes_in = 0;
    co_await both(pump_menu_to_client(client, backend, st, s.clk, rule, prefix_stats(rs, route)),
                  pump_client_to_backend(client, backend, st, s.clk));
    if (backend_sends_close_notify(backend))
        co_await finish_backend(backend);
    co_return account_splice(s, rs, st);
}

template awaitable<error> forward_and_rewrite(session_state&, matched_route const&, tcp_socket&,
                                              backend_stream&, net::const_buffer);
template awaitable<error> forward_and_rewrite(session_state&, matched_route const&, tls_stream&,
                                              backend_stream&, net::const_buffer);

} // namespace got
