#include "session.hpp"

#include "access_log.hpp"
#include "access_policy.hpp"
#include "common/log.hpp"
#include "common/metrics.hpp"
#include "drained_receive.hpp"
#include "goh_handler.hpp"
#include "gopher_handler.hpp"
#include "inspect.hpp"
#include "limits.hpp"
#include "listener_context.hpp"
#include "passthrough_handler.hpp"
#include "selector_routing.hpp"
#include "session_state.hpp"
#include "tls_context_registry.hpp"

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <openssl/ssl.h>
#include <optional>

namespace got {

namespace beast = boost::beast;

namespace {

// What a session holds beyond its state: whether it counts against its client's
// address (limits.max_connections_per_ip; the address is the facts' client) and, once
// the handshake is done, the TLS stream (in place: no block of its own). A TLS
// connection that waits for its request after the handshake then has its context and
// a pending wait alone, which is most of what an idle TLS connection costs the router.
struct session_holds
{
    std::optional<tls_stream> tls;
    bool address_counted = false;
    bool request_to_come = false; // handshake done, the request is run_session's to read
};

void release_address(session_state const& s, session_holds& held)
{
    if (held.address_counted)
        address_counts().release(s.facts.client.address());
    held.address_counted = false;
}

// Whether the client speaks Gopher: plaintext, or TLS with no ALPN or one of `tls.alpn`.
// A protocol only a route names (`alpn: [http/1.1]`) is spliced as it comes, with no
// request line to wait for (the backend may even speak first).
bool speaks_gopher(session_state const& s)
{
    if (s.facts.alpn.empty())
        return true;
    auto const& ours = s.rt.cfg->tls.alpn;
    return std::find(ours.begin(), ours.end(), s.facts.alpn) != ours.end();
}

// The rest of inspection (a Gopher client's request line), then match and handle. The
// route is matched once the request is in hand: a client that never sends one costs no
// route lookup and no backend.
template <class Stream>
awaitable<error> route_request(session_state& s, Stream& client, beast::flat_buffer& request)
{
    if (speaks_gopher(s)) {
        // (Mostly the line came with the first bytes: no read_request frame then.)
        if (!request_line_ready(request)) {
            auto e = co_await read_request(s, client, request, request_rules(s));
            if (e != error::ok)
                co_return e;
        }
        learn_selector(s, request);
    }
    auto route = s.rt.routes.match(query_for(s));
    if (!route) {
        s.record.routed->bytes_in = request.size(); // read from the client, never forwarded
        co_return co_await reply_error(s, client, error::no_route, "No route for this server name");
    }
    if (admit_to_route(s, route->config) != error::ok) {
        s.record.routed->route = route->config.name;
        s.record.routed->bytes_in = request.size();
        co_return co_await reply_error(s, client, error::denied,
                                       "Access denied: your address may not use this route");
    }
    if (route->config.tls.mode == route_tls_mode::passthrough) {
        // A plaintext client on a listener whose default passes TLS through.
        s.record.routed->bytes_in = request.size();
        co_return co_await reply_error(s, client, error::no_route,
                                       "This server takes TLS connections only");
    }
    apply_prefix(s, *route, request);
    co_return co_await handle_gopher(s, *route, client, request.data());
}

// A client whose first bytes are an HTTP request line is served by the GoH gateway;
// anything else goes on as Gopher.
template <class Stream>
awaitable<error> serve_http_or_gopher(session_state& s, Stream& client, beast::flat_buffer& buf)
{
    auto [e, http] = co_await detect_http(s, client, buf);
    if (e != error::ok)
        co_return e;
    if (http)
        co_return co_await handle_goh(s, client, buf);
    co_return co_await route_request(s, client, buf);
}

// Not a coroutine, as the other dispatchers below that end in one call: the awaitable
// of the call is returned as it is, with no frame of their own between the caller's and
// the callee's (each frame is an allocation, a resume and a return per connection).
template <class Stream>
awaitable<error> serve_gopher_or_goh(session_state& s, Stream& client, beast::flat_buffer& buf)
{
    if (s.listener.config.goh && speaks_gopher(s))
        return serve_http_or_gopher(s, client, buf);
    return route_request(s, client, buf);
}

// ALPN http/1.1 on a `goh` listener is HTTP, unless a route named it (that route's
// backend speaks it).
bool goh_by_alpn(session_state const& s)
{
    if (!s.listener.config.goh || s.facts.alpn != goh_alpn)
        return false;
    auto route =
        s.rt.routes.match({s.facts.sni, s.listener.config.default_route, s.facts.alpn_offered});
    return !(route && route->alpn == goh_alpn);
}

// The route for a ClientHello's name and offered protocols, when it passes TLS through.
std::optional<matched_route> passthrough_route(session_state const& s, std::string_view sni,
                                               std::vector<std::string> const& alpn)
{
    auto route = s.rt.routes.match({sni, s.listener.config.default_route, alpn});
    if (route && route->config.tls.mode == route_tls_mode::passthrough)
        return route;
    return std::nullopt;
}

// A passthrough route took the ClientHello: its raw bytes go to the passthrough handler.
awaitable<error> pass_through(session_state& s, matched_route const& route, tcp_socket& client,
                              net::const_buffer client_hello)
{
    if (admit_to_route(s, route.config) != error::ok) {
        s.record.routed->route = route.config.name;
        return immediately(error::denied); // the raw TLS bytes are not ours to answer: close
    }
    return handle_passthrough(s, route, client, client_hello);
}

// OpenSSL's ClientHello callback stopped the handshake for a passthrough route (a
// ClientHello the scan left to OpenSSL): match again on the same facts (the callback and
// this agree) and replay what OpenSSL read.
awaitable<error> pass_through_recorded(session_state& s, tls_stream& tls)
{
    auto route = passthrough_route(s, s.facts.sni, s.facts.alpn_offered);
    if (!route)
        co_return error::no_route; // a snapshot that changed its mind: cannot happen
    auto client_hello = tls.take_recorded();
    co_return co_await pass_through(s, *route, tls.next_layer(), net::buffer(client_hello));
}

// The handshake (and a passthrough route's whole connection). A terminated connection
// returns with `held.request_to_come`: run_session reads the request.
awaitable<error> serve_tls(session_state& s, tcp_socket& socket, beast::flat_buffer& buf,
                           session_holds& held)
{
    s.listener.stats->accepted_tls.fetch_add(1, std::memory_order_relaxed);
    if (!s.listener.config.tls)
        co_return error::refused_tls;
    if (s.rt.tls->has_passthrough()) {
        // Passthrough without OpenSSL: a whole, well-formed ClientHello for a passthrough
        // route goes to its backend as read, with no SSL object made or freed.
        // (Otherwise the handshake sets both facts again from what OpenSSL reads.)
        auto hello = co_await read_client_hello(socket, buf);
        if (hello.status == hello_scan::complete) {
            s.facts.sni = std::move(hello.server_name);
            s.facts.alpn_offered = std::move(hello.alpn);
            if (auto route = passthrough_route(s, s.facts.sni, s.facts.alpn_offered)) {
                note_passthrough(s);
                co_return co_await pass_through(s, *route, socket, buf.data());
            }
        }
    }
    auto& tls = held.tls.emplace(socket, s.rt.tls->initial_context().native_handle());

    tls_hello_notes notes;
    notes.goh = s.listener.config.goh.has_value();
    if (s.rt.tls->has_passthrough()) {
        tls.record_reads();
        notes.default_route = &s.listener.config.default_route;
    }
    auto e = co_await tls_handshake(s, tls, notes, buf);
    if (e != error::ok)
        co_return e;
    if (s.facts.transport == transport::tls_passthrough)
        co_return co_await pass_through_recorded(s, tls);
    tls.stop_recording(); // terminated here: nothing to replay
    // The request must follow the handshake promptly (same budget as the handshake).
    s.clk.set_fixed(s.rt.cfg->timeouts.handshake);
    held.request_to_come = true;
    co_return error::ok;
}

// Whether to wait for the socket to be readable before the request buffer is made: a
// Gopher client whose request OpenSSL does not already hold.
bool request_not_yet_read(session_state const& s, tls_stream& tls)
{
    return speaks_gopher(s) && SSL_has_pending(tls.native_handle()) == 0;
}

// The request after the handshake, its buffer made only now.
awaitable<error> serve_tls_request(session_state& s, tls_stream& tls)
{
    beast::flat_buffer request;
    if (goh_by_alpn(s))
        co_return co_await handle_goh(s, tls, request);
    co_return co_await serve_gopher_or_goh(s, tls, request);
}

// When serve's work is done, in the order its frame ended them before the request wait
// moved here: the TLS stream and the client socket under it, then the address count;
// then the clock stops.
void release_holds(session_state& s, session_holds& held, tcp_socket& client)
{
    if (held.tls) {
        s.clk.client = nullptr;
        held.tls.reset();
        boost::system::error_code ignored;
        client.close(ignored);
    }
    release_address(s, held);
}

awaitable<error> serve_plain(session_state& s, tcp_socket& socket, beast::flat_buffer& buf)
{
    s.listener.stats->accepted_plain.fetch_add(1, std::memory_order_relaxed);
    if (!s.listener.config.plaintext)
        return reply_error(s, socket, error::refused_plaintext,
                           "This port speaks Gopher over TLS only");
    return serve_gopher_or_goh(s, socket, buf);
}

awaitable<error> serve(session_state& s, tcp_socket& socket, session_holds& held)
{
    co_await net::this_coro::throw_if_cancelled(false);
    beast::flat_buffer buf;
    if (s.listener.config.proxy_protocol) {
        auto e = co_await read_proxy_header(s, socket, buf);
        if (e != error::ok)
            co_return e;
    }

    // Refused before a byte past the PROXY header is read: no handshake, no access line.
    if (auto refused = admit_to_listener(s); refused != error::ok) {
        s.log_line = false;
        co_return refused;
    }

    // Without a cap (0) no count is kept: no slot to take or give back (the table's lock).
    auto per_ip = s.rt.cfg->limits.max_connections_per_ip;
    if (per_ip != 0) {
        auto addr = s.facts.client.address();
        held.address_counted = address_counts().try_acquire(addr, per_ip);
        if (!held.address_counted) {
            log_limit_hit(limit_kind::max_connections_per_ip,
                          "limits.max_connections_per_ip (" + std::to_string(per_ip) +
                              ") reached for " + addr.to_string());
            s.log_line = false;
            co_return error::over_limit;
        }
    }

    auto [e, kind] = co_await read_first_bytes(s, socket, buf);
    if (e != error::ok)
        co_return e;
    if (kind == first_bytes::plain)
        co_return co_await serve_plain(s, socket, buf);
    if (!take_handshake_token(s.rt.cfg->limits.handshakes_per_second, s.rt.loops)) {
        log_limit_hit(limit_kind::handshakes_per_second,
                      "limits.handshakes_per_second (" +
                          std::to_string(s.rt.cfg->limits.handshakes_per_second) +
                          ") reached: closing new TLS connections");
        co_return error::over_limit;
    }
    co_return co_await serve_tls(s, socket, buf, held);
}

// A deadline that ended a connection which otherwise saw no error: before a backend it
// was the handshake deadline, after it the idle one.
error final_outcome(session_state const& s, error returned)
{
    if (returned != error::ok || !s.clk.expired())
        return returned;
    return s.phase == session_phase::inspecting ? error::handshake_timeout : error::idle_timeout;
}

// Counts the session live until it ends (for graceful shutdown and the metric).
struct active_guard
{
    session_counter& c;
    explicit active_guard(session_counter& counter)
        : c(counter)
    {
        metrics::get().active_connections.fetch_add(1, std::memory_order_relaxed);
    }
    active_guard(active_guard const&) = delete;
    ~active_guard()
    {
        c.active.fetch_sub(1, std::memory_order_relaxed);
        metrics::get().active_connections.fetch_sub(1, std::memory_order_relaxed);
    }
};

// Everything a session owns, on the heap: while a TLS connection waits for its request
// after the handshake, this and a pending wait are all there is of it (no coroutine
// frame: a parked session is a callback holding this).
struct session_context
{
    std::shared_ptr<listener_context const> listener;
    std::shared_ptr<runtime const> rt;
    active_guard guard;
    tcp_socket socket;
    session_state s;
    session_holds held;

    session_context(tcp_socket sock, std::shared_ptr<listener_context const> l,
                    std::shared_ptr<runtime const> r, session_counter& counter)
        : listener(std::move(l))
        , rt(std::move(r))
        , guard(counter)
        , socket(std::move(sock))
        , s(*listener, *rt, socket.get_executor())
    {}
    session_context(session_context const&) = delete;
    session_context& operator=(session_context const&) = delete;
    // A context freed without end_session (a parked one when its loop is destroyed)
    // still gives its address count back; the stream goes before the socket.
    ~session_context()
    {
        release_address(s, held);
        held.tls.reset();
    }
};

void open_session(session_state& s, tcp_socket& socket, tcp::endpoint const& peer)
{
    s.record.start = std::chrono::steady_clock::now();
    s.record.listener = s.listener.name;
    s.facts.client = peer;
    s.clk.client = &socket;
    s.clk.set_fixed(s.rt.cfg->timeouts.handshake);
}

// The outcome, the backend's counts, the metrics and the access line.
void close_session(session_state& s, error returned)
{
    s.record.outcome = final_outcome(s, returned);
    if (s.backend) {
        s.backend->state->active.fetch_sub(1, std::memory_order_relaxed);
        s.backend->stats->active.fetch_sub(1, std::memory_order_relaxed);
    }
    count_outcome(s.record.outcome);
    if (s.log_line && !s.rt.cfg->logging.access_off) {
        write_access_record(s.record, s.facts, s.rt.cfg->logging, s.rt.access_log_fd);
    }
}

// The end of a session: its holds given back, its clock stopped, the access line, the
// context freed (nothing of it is pending in the loop). An exception goes on after
// that, with no access line.
void end_session(std::unique_ptr<session_context> ctx, error returned, std::exception_ptr failure)
{
    release_holds(ctx->s, ctx->held, ctx->socket);
    ctx->s.clk.stop();
    if (!failure)
        close_session(ctx->s, returned);
    ctx.reset();
    if (failure)
        std::rethrow_exception(failure);
}

// The request after a TLS handshake, then the end of the session.
awaitable<void> serve_request(std::unique_ptr<session_context> ctx)
{
    routed_record routed;
    ctx->s.record.routed = &routed;
    std::exception_ptr failure;
    error returned = error::ok;
    try {
        returned = co_await serve_tls_request(ctx->s, *ctx->held.tls);
    } catch (...) {
        failure = std::current_exception();
    }
    end_session(std::move(ctx), returned, failure);
}

// A TLS connection waiting for its request: no coroutine while it waits, a new one when
// the socket is readable (or the clock closed it: the read then reports that).
constexpr wait_callbacks parked{
    [](void* p, boost::system::error_code const&) {
        std::unique_ptr<session_context> ctx(static_cast<session_context*>(p));
        auto ex = ctx->socket.get_executor();
        net::co_spawn(ex, serve_request(std::move(ctx)), log::coroutine_ended);
    },
    [](void* p) noexcept { delete static_cast<session_context*>(p); },
};

void park(std::unique_ptr<session_context> ctx)
{
    auto& socket = ctx->socket;
    wait_readable(socket, parked, ctx.release());
}

} // namespace

awaitable<void> run_session(tcp_socket socket, tcp::endpoint peer,
                            std::shared_ptr<listener_context const> listener,
                            std::shared_ptr<runtime const> rt, session_counter& counter)
{
    auto ctx = std::make_unique<session_context>(std::move(socket), std::move(listener),
                                                 std::move(rt), counter);
    open_session(ctx->s, ctx->socket, peer);
    routed_record routed; // noted here until the session ends or parks
    ctx->s.record.routed = &routed;

    std::exception_ptr failure;
    error returned = error::ok;
    try {
        returned = co_await serve(ctx->s, ctx->socket, ctx->held);
    } catch (...) {
        failure = std::current_exception();
    }
    if (!failure && returned == error::ok && ctx->held.request_to_come) {
        // No request buffer until the request arrives, and no coroutine frame while a
        // connection idles after its handshake (nothing was routed yet: serve_request
        // notes the request's part in its own frame).
        ctx->s.record.routed = nullptr;
        if (request_not_yet_read(ctx->s, *ctx->held.tls))
            park(std::move(ctx));
        else
            co_await serve_request(std::move(ctx));
        co_return;
    }
    end_session(std::move(ctx), returned, failure);
}

} // namespace got
