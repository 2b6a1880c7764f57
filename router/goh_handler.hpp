// The GoH action: Gopher over HTTP on a listener with `goh`. A connection whose first
// bytes are an HTTP request line (plaintext or inside TLS), or a TLS client that chose
// ALPN `http/1.1`, is handed here by the session. HTTP/1.1 with keep-alive (up to
// `goh.max_requests` requests, `goh.keepalive` between them); Boost.Beast parses each
// request header (8 KiB: 431 past it, 400 for anything malformed) and writes each
// response header.
//
// One request: `GET <goh.path>?url=gopher://host[:port]/<type><selector>` with
// `Accept: application/gopher`. The URL's host goes through the route table (never an
// open proxy: an unknown host is 404; the request's own Host or the listener's address
// takes the listener's default_route); its port must be 70 or one the listener serves
// (403, as goh answers a port it will not reach). The backend is connected through
// backend_link.hpp and sent the selector and CRLF. The 200 goes out with the first
// reply byte (Content-Type application/gopher, `Via: Gopher/RFC1436 host[:port]`, CORS),
// and the body is streamed chunked (close-delimited for HTTP/1.0) with one buffer: a
// slow reader throttles the backend. Backend refused or reset before the first byte:
// 502; connect or first-byte timeout: 504; a reset after it aborts the connection (RST),
// so the truncation shows. A request without `Accept: application/gopher` gets goh's
// help text, or, asking for text/html without `url`, the browse page (goh_page.hpp).
// Every request writes its own access line (`transport=goh`, method, path, status).
#pragma once

#include "common/awaitable.hpp"
#include "common/error.hpp"
#include "common/goh_request.hpp"
#include "common/route_table.hpp"
#include "session_state.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/status.hpp>
#include <optional>
#include <string_view>

namespace got {

// The longest request line and header block taken (Beast's header_limit).
inline constexpr std::size_t goh_header_limit = 8 * 1024;

// The route a GoH request's Gopher URL takes, or the status that refuses it.
struct goh_route
{
    std::optional<matched_route> route;
    boost::beast::http::status status = boost::beast::http::status::ok;
    std::string_view reason; // for the refusal's body
};

// `host_header`: the request's Host (with or without a port); `local`: where the client
// connected (the PROXY destination when there was one). Pure: tests drive it directly.
goh_route choose_goh_route(route_table const& routes, listener_config const& listener,
                           goh::gopher_target const& target, std::string_view host_header,
                           net::ip::tcp::endpoint const& local);

// Serves HTTP requests on `client` until the connection ends; `buf` holds the bytes
// already read (the start of the first request). Returns the connection's outcome.
template <class Stream>
awaitable<error> handle_goh(session_state& s, Stream& client, boost::beast::flat_buffer& buf);

} // namespace got
