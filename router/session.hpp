// A connection's life, from accept to the access-log line: inspect (inspect.hpp),
// match (common/route_table.hpp), handle (gopher_handler.hpp), as docs/ARCHITECTURE.md
// describes. One coroutine per connection (parked, with no coroutine, while a TLS
// connection waits for its request after the handshake); it owns its sockets and holds the
// config snapshot it started with.
#pragma once

#include "common/awaitable.hpp"
#include "loop_socket.hpp"
#include "runtime.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <memory>

namespace got {

struct listener_context;

// Counts live sessions (for graceful shutdown). Incremented and decremented by
// `run_session`; read by the server.
struct session_counter
{
    std::atomic<std::size_t> active{0};
};

// `peer` is the address accept(2) returned with the socket (no getpeername).
awaitable<void> run_session(tcp_socket socket, net::ip::tcp::endpoint peer,
                            std::shared_ptr<listener_context const> listener,
                            std::shared_ptr<runtime const> rt, session_counter& counter);

} // namespace got
