// The passthrough action: a route with `tls: passthrough` took the ClientHello, so
// no TLS is terminated here. Connect a backend of the route (backend_link.hpp), send
// its PROXY header (v2 carries the SNI), replay the bytes the handshake read, then
// splice the raw TLS both ways: the client talks TLS with the backend. A failure before
// the backend answers closes the connection (the client expects TLS, not an item).
#pragma once

#include "common/awaitable.hpp"
#include "common/error.hpp"
#include "common/route_table.hpp"
#include "loop_socket.hpp"
#include "session_state.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>

namespace got {

awaitable<error> handle_passthrough(session_state& s, matched_route const& route,
                                    tcp_socket& client, net::const_buffer client_hello);

} // namespace got
