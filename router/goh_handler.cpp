#include "goh_handler.hpp"

#include "backend_link.hpp"
#include "common/log.hpp"
#include "common/metrics.hpp"
#include "common/sni.hpp"
#include "goh_page.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/write.hpp>
#include <sstream>

namespace got {

namespace beast = boost::beast;
namespace http = beast::http;
using namespace std::chrono_literals;

namespace {

constexpr std::string_view goh_media_type = "application/gopher";

// One request and what became of it: its access line.
struct exchange
{
    std::chrono::steady_clock::time_point start;
    http::verb method = http::verb::unknown;
    std::string method_text;
    std::string target;
    unsigned version = 11;
    bool keep_alive = true; // the client's wish, then ours (request budget, HTTP/1.0 body)
    std::string host;       // the Host header
    std::string accept;
    std::uint64_t bytes_in = 0; // the request header
    std::uint64_t bytes_out = 0;
    http::status status = http::status::unknown;
    error outcome = error::ok;
    std::string route;
    std::string backend;
    std::string backend_tls_error; // a TLS backend's handshake failed: why
    std::string url;               // the Gopher URL asked for, as to_url spells it
};

enum class header_read
{
    request,
    closed,    // a clean end before the first byte of a request
    failed,    // reset, deadline, or an end inside a header
    too_large, // over goh_header_limit: 431
    malformed, // anything else Beast refuses, or a request with a body: 400
};

template <class Stream>
awaitable<header_read> read_header(Stream& client, beast::flat_buffer& buf, exchange& x)
{
    http::request_parser<http::empty_body> p;
    p.header_limit(goh_header_limit);
    for (;;) {
        if (buf.size() > 0) {
            beast::error_code ec;
            auto n = p.put(buf.data(), ec);
            buf.consume(n);
            x.bytes_in += n;
            if (ec == http::error::header_limit)
                co_return header_read::too_large;
            if (ec && ec != http::error::need_more)
                co_return header_read::malformed;
            if (p.is_header_done()) {
                auto const& req = p.get();
                x.method = req.method();
                x.method_text = std::string(req.method_string());
                x.target = std::string(req.target());
                x.version = req.version() == 10 ? 10 : 11;
                x.keep_alive = req.keep_alive();
                x.host = std::string(req[http::field::host]);
                x.accept = std::string(req[http::field::accept]);
                co_return p.is_done() ? header_read::request : header_read::malformed;
            }
        }
        if (buf.size() > goh_header_limit)
            co_return header_read::too_large;
        auto want = std::min<std::size_t>(goh_header_limit + 1 - buf.size(), 4096);
        auto [ec, n] = co_await read_some(client, buf.prepare(want));
        buf.commit(n);
        if (ec && n == 0)
            co_return is_clean_eof(ec) && buf.size() == 0 && x.bytes_in == 0 ? header_read::closed
                                                                             : header_read::failed;
    }
}

char lower(char c) noexcept
{
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

bool equal_nocase(std::string_view a, std::string_view b) noexcept
{
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                              [](char x, char y) { return lower(x) == lower(y); });
}

std::string_view trimmed(std::string_view s) noexcept
{
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
        s.remove_suffix(1);
    return s;
}

// Whether an Accept value lists `type` (parameters and case aside). goh wants the whole
// header to be exactly `application/gopher`; a list that names it is taken here too.
bool accepts(std::string_view accept, std::string_view type)
{
    while (!accept.empty()) {
        auto comma = accept.find(',');
        auto range = accept.substr(0, comma);
        if (equal_nocase(trimmed(range.substr(0, range.find(';'))), type))
            return true;
        if (comma == std::string_view::npos)
            break;
        accept.remove_prefix(comma + 1);
    }
    return false;
}

// The host part of a Host header: `a.test:7070` and `[::1]:70` give `a.test` and `::1`.
std::string host_of(std::string_view host_header)
{
    std::string_view h = trimmed(host_header);
    if (h.starts_with('[')) {
        auto close = h.find(']');
        h = h.substr(1, close == std::string_view::npos ? 0 : close - 1);
    } else {
        h = h.substr(0, h.find(':'));
    }
    std::string out;
    for (char c : h)
        out += lower(c);
    if (out.ends_with('.'))
        out.pop_back();
    return out;
}

std::string address_text(net::ip::address a)
{
    if (a.is_v6() && a.to_v6().is_v4_mapped())
        a = net::ip::make_address_v4(net::ip::v4_mapped, a.to_v6());
    return a.to_string();
}

} // namespace

goh_route choose_goh_route(route_table const& routes, listener_config const& listener,
                           goh::gopher_target const& target, std::string_view host_header,
                           tcp::endpoint const& local)
{
    goh_route out;
    if (target.port != 70 && target.port != listener.address.port && target.port != local.port()) {
        out.status = http::status::forbidden;
        out.reason = "This port is not served here";
        return out;
    }
    bool const own = (!host_header.empty() && target.host == host_of(host_header)) ||
                     target.host == host_of(listener.address.host) ||
                     target.host == address_text(local.address());
    auto name = sni::normalise(target.host);
    auto by_name = name.empty() ? std::nullopt : routes.match({name, {}});
    auto route = by_name ? by_name
                 : own   ? routes.match({{}, listener.default_route})
                         : std::nullopt;
    if (!route || route->config.tls.mode == route_tls_mode::passthrough) {
        out.status = http::status::not_found;
        out.reason = "No route for this Gopher host";
        return out;
    }
    out.route.emplace(*route);
    return out;
}

namespace {

std::string header_text(http::response_header<> const& h)
{
    std::ostringstream os;
    os << h;
    return std::move(os).str();
}

// The fields every response has: version, CORS (goh's), and what the connection does next.
http::response_header<> response_start(session_state const& s, exchange const& x, http::status st)
{
    http::response_header<> h;
    h.version(x.version);
    h.result(st);
    h.set(http::field::server, "got-router");
    auto const& origin = s.listener.config.goh->cors_origin;
    if (!origin.empty()) {
        h.set(http::field::access_control_allow_origin, origin);
        h.set(http::field::access_control_expose_headers, "Via");
    }
    if (!x.keep_alive)
        h.set(http::field::connection, "close");
    else if (x.version == 10)
        h.set(http::field::connection, "keep-alive");
    return h;
}

// A complete response with a small body (errors, help text, the page).
template <class Stream>
awaitable<void> reply(session_state& s, Stream& client, exchange& x, http::status st, error outcome,
                      std::string_view content_type, std::string_view body,
                      std::string_view extra_name = {}, std::string_view extra_value = {})
{
    auto h = response_start(s, x, st);
    h.set(http::field::content_type, content_type);
    h.set(http::field::content_length, std::to_string(body.size()));
    if (!extra_name.empty())
        h.set(extra_name, extra_value);
    auto text = header_text(h);
    if (x.method != http::verb::head)
        text += body;
    x.status = st;
    x.outcome = outcome;
    auto [ec, n] = co_await write_all(client, net::buffer(text));
    x.bytes_out += n;
    if (ec)
        x.keep_alive = false;
}

template <class Stream>
awaitable<void> reply_text(session_state& s, Stream& client, exchange& x, http::status st,
                           error outcome, std::string_view message)
{
    co_await reply(s, client, x, st, outcome, "text/plain; charset=utf-8",
                   std::string(message) + "\n");
}

// goh's catch-all answer (server.js), for requests that are not GoH requests.
std::string help_text(exchange const& x, bool has_url)
{
    std::string t = "This is a Gopher over HTTP (GoH) service.\n"
                    "For details, see: https://gitlab.com/commonshost/goh\n";
    if (!equal_nocase(trimmed(x.accept), goh_media_type))
        t += "Missing request header: Accept: application/gopher\n";
    if (!has_url)
        t += "Missing query parameter: url\n";
    return t;
}

// Gives back the counts connect_backend took: a keep-alive connection reaches one backend
// per request.
void release_backend(session_state& s)
{
    if (!s.backend)
        return;
    s.backend->state->active.fetch_sub(1, std::memory_order_relaxed);
    s.backend->stats->active.fetch_sub(1, std::memory_order_relaxed);
    s.backend = nullptr;
}

// The first reply byte, under timeouts.idle on the backend alone: a timeout here is a 504
// to a client that is still there (the connection clock would close the client too).
awaitable<std::tuple<boost::system::error_code, std::size_t>>
first_read(session_state& s, backend_stream& backend, net::mutable_buffer b)
{
    auto const idle = s.rt.cfg->timeouts.idle;
    s.clk.set_fixed(idle + 1s); // the read's own deadline comes first
    boost::system::error_code ec;
    std::size_t n = 0;
    if (auto* tls = backend.tls()) {
        socket_deadline deadline(backend.socket(), idle);
        std::tie(ec, n) = co_await tls->async_read_some(b);
        if (deadline.fired())
            ec = beast::error::timeout;
    } else {
        beast::basic_stream<net::ip::tcp, loop_executor> stream(std::move(backend.socket()));
        stream.expires_after(idle);
        std::tie(ec, n) = co_await stream.async_read_some(b, use_nothrow);
        stream.expires_never();
        backend.socket() = stream.release_socket();
    }
    s.clk.set_idle(idle);
    co_return std::tuple{ec, n};
}

// Room for a chunk's size line before the data, and its CRLF after.
constexpr std::size_t chunk_head_room = 10;

// Frames `n` bytes at `data + chunk_head_room` as one chunk (or leaves them bare for a
// close-delimited body) and returns the buffer to write.
net::const_buffer framed(char* data, std::size_t n, bool chunked)
{
    if (!chunked)
        return net::buffer(data + chunk_head_room, n);
    char size_line[chunk_head_room];
    int len = std::snprintf(size_line, sizeof size_line, "%zx\r\n", n);
    char* start = data + chunk_head_room - len;
    std::memcpy(start, size_line, static_cast<std::size_t>(len));
    std::memcpy(data + chunk_head_room + n, "\r\n", 2);
    return net::buffer(start, static_cast<std::size_t>(len) + n + 2);
}

// The Via header's host as goh writes it: `host`, or `host:port` when not 70 (an IPv6
// literal in brackets).
std::string via_host(goh::gopher_target const& t)
{
    auto host = t.host.find(':') == std::string::npos ? t.host : "[" + t.host + "]";
    return t.port == 70 ? host : host + ":" + std::to_string(t.port);
}

using reply_buffer = std::array<char, chunk_head_room + splice_buffer_size + 2>;

// After the 200: the rest of the reply, one buffer, read only once the client took the
// last write (flow control). Counts what the backend sent in `from_backend`.
template <class Stream>
awaitable<error> stream_body(session_state& s, Stream& client, backend_stream& backend, exchange& x,
                             reply_buffer& buf, bool chunked, std::uint64_t& from_backend)
{
    int reads = 0;
    for (;;) {
        if (turn_due(reads))
            co_await take_turn();
        auto [rec, n] = co_await recv_some(
            backend, net::buffer(buf.data() + chunk_head_room, splice_buffer_size));
        if (rec == net::error::eof)
            break;
        if (rec) {
            // Truncation must show: no last chunk, and RST rather than FIN.
            abort_both(lowest(client), backend, true);
            co_return s.clk.expired() ? error::idle_timeout : error::backend_reset;
        }
        s.clk.touch();
        from_backend += n;
        auto [wec, wn] = co_await write_all(client, framed(buf.data(), n, chunked));
        x.bytes_out += wn;
        if (wec) {
            abort_both(lowest(client), backend, false);
            co_return s.clk.expired() ? error::idle_timeout : error::client_reset;
        }
    }
    if (chunked) {
        auto [wec, wn] = co_await write_all(client, net::buffer(std::string_view("0\r\n\r\n")));
        x.bytes_out += wn;
        if (wec)
            co_return error::client_reset;
    }
    co_return error::ok;
}

// The 200 with the first reply byte, then the body. `n` bytes are already in `buf`.
template <class Stream>
awaitable<error> send_reply(session_state& s, Stream& client, backend_stream& backend, exchange& x,
                            goh::gopher_target const& t, reply_buffer& buf, std::size_t n,
                            std::uint64_t& from_backend)
{
    bool const chunked = x.version == 11;
    if (!chunked)
        x.keep_alive = false; // HTTP/1.0: the body ends with the connection
    auto h = response_start(s, x, http::status::ok);
    h.set(http::field::content_type, goh_media_type);
    h.set(http::field::via, "Gopher/RFC1436 " + via_host(t));
    if (chunked)
        h.set(http::field::transfer_encoding, "chunked");
    x.status = http::status::ok;
    auto head = header_text(h);
    auto [hec, hn] = co_await write_all(client, net::buffer(head));
    x.bytes_out += hn;
    if (hec)
        co_return error::client_reset;
    if (x.method == http::verb::head)
        co_return error::ok; // the backend is closed unread
    from_backend += n;
    if (n > 0) {
        auto [wec, wn] = co_await write_all(client, framed(buf.data(), n, chunked));
        x.bytes_out += wn;
        if (wec)
            co_return error::client_reset;
    } else if (chunked) {
        auto [wec, wn] = co_await write_all(client, net::buffer(std::string_view("0\r\n\r\n")));
        x.bytes_out += wn;
        co_return wec ? error::client_reset : error::ok; // an empty reply: done
    }
    co_return co_await stream_body(s, client, backend, x, buf, chunked, from_backend);
}

// Connects a backend of `route`, sends the selector and relays the reply.
template <class Stream>
awaitable<void> fetch(session_state& s, Stream& client, exchange& x, matched_route const& route,
                      goh::gopher_target const& t)
{
    auto const& rs = s.rt.route_state[route.index];
    x.route = route.config.name;
    rs.stats->requests.fetch_add(1, std::memory_order_relaxed);
    backend_stream backend(co_await net::this_coro::executor);
    backend_watch watch{s.clk};
    error e = co_await connect_backend(s, route, backend.socket());
    x.backend = s.record.routed->backend;
    if (e == error::ok && backend_needs_opening(s)) {
        e = co_await open_backend(s, route, lowest(client), backend);
        x.backend_tls_error = std::exchange(s.record.routed->backend_tls_error, {});
    }
    std::string line = t.selector + "\r\n";
    if (e == error::ok) {
        auto [wec, wn] = co_await write_all(backend, net::buffer(line));
        rs.stats->bytes_in.fetch_add(wn, std::memory_order_relaxed);
        e = wec ? error::backend_reset : error::ok;
    }
    auto buf = std::make_unique<reply_buffer>();
    std::size_t n = 0;
    if (e == error::ok) {
        auto [rec, rn] = co_await first_read(
            s, backend, net::buffer(buf->data() + chunk_head_room, splice_buffer_size));
        n = rn;
        if (rec == beast::error::timeout)
            e = error::backend_timeout;
        else if (rec && backend.tls() && rec.category() == net::error::get_ssl_category())
            e = backend_refused_late(s, x.backend_tls_error, rec); // TLS 1.3, see splice.hpp
        else if (rec && rec != net::error::eof)
            e = error::backend_reset;
    }
    if (e != error::ok) {
        release_backend(s);
        bool const timeout = e == error::backend_timeout;
        bool const tls = e == error::backend_tls_verify || e == error::backend_tls_failed;
        // (Built before the co_await: GCC 12 mishandles a temporary string inside one.)
        std::string const message =
            timeout ? "Gateway Timeout: the Gopher server did not answer in time"
            : tls   ? "Bad Gateway: " + std::string(backend_failure_text(e))
                    : "Bad Gateway: the Gopher server is unavailable";
        co_return co_await reply_text(
            s, client, x, timeout ? http::status::gateway_timeout : http::status::bad_gateway, e,
            message);
    }
    std::uint64_t from_backend = 0;
    x.outcome = co_await send_reply(s, client, backend, x, t, *buf, n, from_backend);
    rs.stats->bytes_out.fetch_add(from_backend, std::memory_order_relaxed);
    if (x.outcome != error::ok)
        x.keep_alive = false;
    if (backend_sends_close_notify(backend))
        co_await finish_backend(backend);
    boost::system::error_code ignored;
    backend.socket().close(ignored);
    release_backend(s);
}

// One request, answered.
template <class Stream>
awaitable<void> answer(session_state& s, Stream& client, exchange& x)
{
    auto const& g = *s.listener.config.goh;
    if (x.method != http::verb::get && x.method != http::verb::head)
        co_return co_await reply(s, client, x, http::status::method_not_allowed, error::bad_request,
                                 "text/plain; charset=utf-8", "Method Not Allowed\n", "Allow",
                                 "GET, HEAD");
    if (goh::target_path(x.target) != g.path)
        co_return co_await reply_text(s, client, x, http::status::not_found, error::no_route,
                                      "Not Found: the GoH endpoint is " + g.path);
    auto url = goh::query_parameter(x.target, "url");
    if (!accepts(x.accept, goh_media_type)) {
        if (!url && accepts(x.accept, "text/html"))
            co_return co_await reply(s, client, x, http::status::ok, error::ok,
                                     "text/html; charset=utf-8", goh_page_html(),
                                     "Content-Security-Policy", goh_page_csp());
        co_return co_await reply(s, client, x, http::status::ok, error::ok,
                                 "text/plain; charset=utf-8", help_text(x, url.has_value()));
    }
    if (!url)
        co_return co_await reply_text(s, client, x, http::status::bad_request, error::bad_request,
                                      "Bad Request: missing query parameter: url");
    auto parsed = goh::parse_gopher_url(*url);
    if (!parsed.target)
        co_return co_await reply_text(s, client, x, http::status::bad_request, error::bad_request,
                                      "Bad Request: " + std::string(goh::describe(parsed.error)));
    x.url = goh::to_url(*parsed.target);
    boost::system::error_code ignored;
    auto local = s.facts.local().value_or(lowest(client).local_endpoint(ignored));
    auto choice = choose_goh_route(s.rt.routes, s.listener.config, *parsed.target, x.host, local);
    if (!choice.route)
        co_return co_await reply_text(
            s, client, x, choice.status,
            choice.status == http::status::not_found ? error::no_route : error::bad_request,
            std::string(http::obsolete_reason(choice.status)) + ": " + std::string(choice.reason));
    co_await fetch(s, client, x, *choice.route, *parsed.target);
}

void log_exchange(session_state const& s, exchange const& x)
{
    count_goh_response(static_cast<unsigned>(x.status));
    if (s.rt.cfg->logging.access_off)
        return;
    http_request_fields http{x.method_text, goh::target_path(x.target),
                             static_cast<unsigned>(x.status), x.url};
    routed_record rr;
    rr.route = x.route;
    rr.backend = x.backend;
    rr.backend_tls_error = x.backend_tls_error;
    rr.bytes_in = x.bytes_in;
    rr.bytes_out = x.bytes_out;
    rr.http = &http;
    access_record r = s.record;
    r.start = x.start;
    r.outcome = x.outcome;
    r.routed = &rr;
    write_access_record(r, s.facts, s.rt.cfg->logging, s.rt.access_log_fd);
}

// The end of a connection after a response: FIN (close_notify first for TLS), then read
// and drop what the client still sends for a moment, so a close with unread bytes does not
// send RST over the response's end.
template <class Stream>
awaitable<void> close_gracefully(session_state& s, Stream& client)
{
    s.clk.set_fixed(std::min<connection_clock::clock::duration>(s.rt.cfg->timeouts.handshake, 2s));
    co_await finish_client_write(client);
    std::array<char, 512> sink;
    for (int i = 0; i < 64; ++i) {
        auto [ec, n] = co_await lowest(client).async_read_some(net::buffer(sink), use_nothrow);
        if (ec)
            break;
    }
}

template <class Stream>
awaitable<void> refuse_header(session_state& s, Stream& client, exchange& x, header_read why)
{
    x.keep_alive = false;
    if (why == header_read::too_large)
        co_await reply_text(s, client, x, http::status::request_header_fields_too_large,
                            error::bad_request, "Request Header Fields Too Large");
    else
        co_await reply_text(s, client, x, http::status::bad_request, error::bad_request,
                            "Bad Request: not an HTTP/1.1 request this gateway takes");
}

} // namespace

template <class Stream>
awaitable<error> handle_goh(session_state& s, Stream& client, beast::flat_buffer& buf)
{
    s.record.transport = transport::goh;
    s.listener.stats->accepted_goh.fetch_add(1, std::memory_order_relaxed);
    auto const& g = *s.listener.config.goh;
    error last = error::client_closed;
    for (unsigned served = 0; served < g.max_requests; ++served) {
        exchange x;
        x.start = std::chrono::steady_clock::now();
        auto got = co_await read_header(client, buf, x);
        if (got == header_read::closed)
            break;
        if (got == header_read::failed) {
            last = s.clk.expired() ? (served ? error::idle_timeout : error::handshake_timeout)
                                   : error::client_reset;
            break;
        }
        if (got == header_read::request) {
            if (served + 1 == g.max_requests)
                x.keep_alive = false;
            co_await answer(s, client, x);
        } else {
            co_await refuse_header(s, client, x, got);
        }
        log_exchange(s, x);
        s.log_line = false;                    // each request had its line
        s.phase = session_phase::with_backend; // a deadline from now on is the idle one
        last = x.outcome;
        if (!x.keep_alive) {
            if (x.outcome == error::ok || x.status != http::status::ok)
                co_await close_gracefully(s, client);
            break;
        }
        s.clk.set_fixed(g.keepalive);
    }
    // A keep-alive connection that ends between requests ended well.
    co_return last == error::client_closed && !s.log_line ? error::ok : last;
}

template awaitable<error> handle_goh(session_state&, tcp_socket&, beast::flat_buffer&);
template awaitable<error> handle_goh(session_state&, tls_stream&, beast::flat_buffer&);

} // namespace got
