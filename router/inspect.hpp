// The inspect stage: reading what a connection is before a route is chosen. Each step
// adds to the session's facts (connection_facts.hpp) and returns error::ok to go on, or
// the outcome that ends the connection (after an error item where the client gets one).
//
//   read_proxy_header  PROXY protocol in: the real client and destination
//   read_first_bytes   the classifier (common/classify.hpp): TLS, plaintext or refused
//   read_client_hello  passthrough listeners: the whole ClientHello, scanned without OpenSSL
//   tls_handshake      SNI, ALPN and version, with the SSL_CTX the SNI callback chose
//   detect_http        on a `goh` listener: an HTTP request line, or Gopher
//   read_request       the request line, bounded by size and the handshake deadline
#pragma once

#include "common/awaitable.hpp"
#include "common/classify.hpp"
#include "common/client_hello_ext.hpp"
#include "common/error.hpp"
#include "loop_socket.hpp"
#include "session_state.hpp"
#include "tls_stream.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <tuple>

namespace got {

// A peer in `proxy_protocol.from` must send a header first, and its source address
// becomes the client's everywhere; a peer outside `from` must not send one (spoofing).
// The bytes after the header stay in `buf` for the classifier. Bounded: a verdict comes
// by max_proxy_header_size bytes, under the handshake deadline.
awaitable<error> read_proxy_header(session_state& s, tcp_socket& socket,
                                   boost::beast::flat_buffer& buf);

// Reads until the classifier decides; the bytes read stay in `buf`. Sets the
// transport fact. Bytes that only start like TLS are a failed handshake: they are
// refused rather than handed to a backend as a selector.
awaitable<std::tuple<error, first_bytes>> read_first_bytes(session_state& s, tcp_socket& socket,
                                                           boost::beast::flat_buffer& buf);

// The server handshake, fed first with the classifier's bytes in `buf` (consumed).
// Sets the SNI, ALPN and TLS version facts and counts the handshake's outcome. When a
// passthrough route takes the ClientHello, the handshake stops there: the transport
// fact says tls_passthrough, and the SNI and offered ALPN come from the ClientHello.
awaitable<error> tls_handshake(session_state& s, tls_stream& tls, tls_hello_notes& notes,
                               boost::beast::flat_buffer& buf);

// On a listener with passthrough routes, before any SSL object exists: reads on (never
// past tls_stream::max_client_hello bytes in all) until `buf` holds a whole ClientHello,
// and scans it (scan_client_hello). `complete` carries its SNI and offered ALPN, which
// are what OpenSSL's ClientHello callback would read. Anything else (malformed, too
// large, or the socket failed or the deadline closed it first) is `other`, with every
// byte read left in `buf`: the OpenSSL handshake then reads the same bytes, and the same
// socket, and reaches its verdict as it always did.
awaitable<client_hello_scan> read_client_hello(tcp_socket& socket, boost::beast::flat_buffer& buf);

// A passthrough route takes the connection: its facts (the SNI and offered ALPN already
// there) come from the ClientHello alone; the transport and the access record say so.
void note_passthrough(session_state& s);

// How much of a request line to wait for. Routing by selector needs the whole first
// line: it must end (LF, normally CRLF) within `max_line` bytes, and EOF before the
// end is refused. Otherwise a longer line is allowed and EOF ends the request.
struct request_line_rules
{
    std::size_t max_line = 4096; // selector, TAB, search words, Gopher+ suffix
    bool need_line_end = false;
};

// RFC 1436 selectors are at most 255 bytes; 1 KiB leaves room for search words.
inline constexpr request_line_rules selector_routing_rules{1024, true};

// On a listener with `goh`: reads until classify_plain (common/classify.hpp) tells an
// HTTP request line from a Gopher selector, at most a few bytes; what was read stays in
// `buf`. True: HTTP. A clean end before a verdict is Gopher (read_request decides).
template <class Stream>
awaitable<std::tuple<error, bool>> detect_http(session_state& s, Stream& client,
                                               boost::beast::flat_buffer& buf);

// Reads the request line (up to its LF) into `buf`; bytes after it stay there too. A
// line with NUL bytes, longer than the rules allow, or (when the rules need its end)
// cut short by EOF gets an error item. Otherwise EOF after some bytes ends the request
// (the backend decides what to make of it).
template <class Stream>
awaitable<error> read_request(session_state& s, Stream& client, boost::beast::flat_buffer& buf,
                              request_line_rules rules = {});

// Whether `buf` holds a whole request line read_request would take as it is (a line end,
// no NUL before it): the caller then need not make read_request's frame at all.
bool request_line_ready(boost::beast::flat_buffer const& buf);

} // namespace got
