// The backend side of a connection, shared by every handler: choose a backend of the
// matched route (the balancer), connect under timeouts.connect, retry on the next
// eligible one, and send the PROXY header the backend asks for (send_proxy).
//
// A handler calls connect_backend, and on success send_proxy_header before its first
// byte to the backend. Failures come back as the outcome to report; the handler
// decides what the client sees (an error item, an HTTP status, a close).
#pragma once

#include "backend_stream.hpp"
#include "common/awaitable.hpp"
#include "common/error.hpp"
#include "common/route_table.hpp"
#include "loop_socket.hpp"
#include "session_state.hpp"
#include "zero_copy.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <string>

namespace got {

// The bytes a backend is to get first (a request line, a ClientHello to replay), for
// connect_backend to send as it connects when the chosen backend needs no opening (no
// PROXY header, no TLS): a connect that completed at once is then told by that send,
// with no send of its own. `sent`: how many went (the caller sends the rest).
struct early_bytes
{
    net::const_buffer bytes;
    std::size_t sent = 0;
};

// Connects `backend` to a backend of `route`: the balancer's choice, then, after a
// failed connect (which counts against that backend at once), the next eligible one,
// up to `retries` more. Nothing has been sent to a backend whose connect failed, so
// retrying is safe. On success the session holds the backend's active counts (released
// by run_session) and its clock watches both sockets under the idle deadline.
awaitable<error> connect_backend(session_state& s, matched_route const& route, tcp_socket& backend,
                                 early_bytes* early = nullptr);

// After connect_backend and send_proxy_header: writes `first` (the bytes already read
// from the client; its first `already_sent` went with the connect) to the backend, then
// splices both ways until both sides are done, and counts the bytes for the route and
// the access record. Returns the splice's outcome. For plaintext clients (zero_copy.hpp's
// pumps, whose bulk transfers take `bulk`) and terminated TLS (splice.hpp's).
template <class ClientStream>
awaitable<error> forward_and_splice(session_state& s, route_runtime const& rs, ClientStream& client,
                                    backend_stream& backend, net::const_buffer first,
                                    std::size_t already_sent, bulk_path bulk);

// The bytes a splice moved, into the access record and the route's counters; returns its
// outcome. `st.bytes_in` counts the first bytes written before it too. A TLS backend that
// refused the handshake late (splice.hpp's refused_after_handshake) is counted and its
// reason recorded here.
error account_splice(session_state& s, route_runtime const& rs, splice_state const& st);

// Keeps the clock off the backend socket once the frame that owns it is gone.
struct backend_watch
{
    connection_clock& clk;
    explicit backend_watch(connection_clock& c)
        : clk(c)
    {}
    backend_watch(backend_watch const&) = delete;
    ~backend_watch() { clk.backend = nullptr; }
};

// Whether the connected backend asks for a PROXY header, and whether open_backend has
// anything to do for it (a PROXY header or a TLS handshake): a handler skips the call,
// and its coroutine frame, when not.
bool backend_wants_proxy_header(session_state const& s);
bool backend_needs_opening(session_state const& s);

// Writes the PROXY header of `send_proxy` (none: nothing). `client` is asked for the
// local address only when the facts do not hold one (getsockname when needed).
awaitable<error> send_proxy_header(session_state& s, tcp_socket& client, tcp_socket& backend);

// After connect_backend: the PROXY header (in clear, as HAProxy sends it), then, for a
// backend with `tls`, the TLS client handshake under timeouts.connect (verified as
// backend_tls.hpp says). A failed handshake is counted
// (got_router_backend_tls_handshakes_total), noted in the access record with its reason
// and returned as backend_tls_verify, backend_tls_failed or backend_timeout; it is not
// retried on another backend.
awaitable<error> open_backend(session_state& s, matched_route const& route, tcp_socket& client,
                              backend_stream& backend);

// A TLS backend's alert on the first read (TLS 1.3: a handshake it refused after our
// Finished): counted as a failed handshake, the reason into `reason`.
error backend_refused_late(session_state& s, std::string& reason,
                           boost::system::error_code const& ec);

// The client's words for a failed connect_backend or open_backend: an error item's or
// an HTTP body's text.
std::string_view backend_failure_text(error e);

// The header itself: the client's address, and for v2 the SNI as the authority TLV
// and the TLS version in an SSL TLV, as HAProxy sends them.
std::string proxy_header_for(connection_facts const& f, net::ip::tcp::endpoint const& local,
                             proxy_version version);

// A stable hash of the client's address (IPv4-mapped addresses as IPv4), for
// source_hash balancing.
std::uint64_t client_address_hash(net::ip::address a);

} // namespace got
