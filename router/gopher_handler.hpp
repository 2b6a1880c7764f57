// The Gopher action: with the request line in hand and a route matched, connect a
// backend of the route (backend_link.hpp), forward the request and splice both ways
// until both sides are done. Plaintext Gopher (`tcp_socket`) and terminated GoT
// (`tls_stream`) are its two instantiations; a backend failure before any reply byte
// becomes a Gopher error item.
#pragma once

#include "common/awaitable.hpp"
#include "common/error.hpp"
#include "common/route_table.hpp"
#include "loop_socket.hpp"
#include "session_state.hpp"

#include <boost/asio/buffer.hpp>

namespace got {

template <class Stream>
awaitable<error> handle_gopher(session_state& s, matched_route const& route, Stream& client,
                               net::const_buffer request);

} // namespace got
