// The TCP socket of the data path: bound to an event loop's io_context executor, not
// to Asio's polymorphic any_io_executor. Every client and backend socket of a session
// lives on one loop (event_loop.hpp), so the executor it carries is that loop's: 8
// bytes in the socket instead of 56 (an idle connection's socket is 40 bytes, not 88),
// and no type-erased executor copied into each operation it starts.
#pragma once

#include "common/awaitable.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

namespace got {

using loop_executor = net::io_context::executor_type;
using tcp_socket = net::basic_stream_socket<net::ip::tcp, loop_executor>;

// The loop executor inside `ex` (a coroutine's, which is a loop's): throws
// std::logic_error for an executor of anything else.
loop_executor loop_of(net::any_io_executor const& ex);

} // namespace got
