// The reply path of a route with strip_prefix and rewrite_menus (issue 18): the
// backend's reply is held (up to gopher_menu::max_menu_size) until it ends, judged as a
// whole, and sent either rewritten (a Gopher menu: its items pointing at the backend get
// the public address and the prefix) or byte for byte as it came. A reply that outgrows
// the cap is not a menu: what was held is sent as it came and the rest is spliced.
// Client bytes after the request flow to the backend meanwhile, as in a plain splice.
// Routes without rewrite_menus never come here: their replies are spliced unbuffered.
#pragma once

#include "backend_stream.hpp"
#include "common/awaitable.hpp"
#include "common/error.hpp"
#include "common/route_table.hpp"
#include "runtime.hpp"
#include "session_state.hpp"

#include <boost/asio/ip/tcp.hpp>

namespace got {

// As forward_and_splice (backend_link.hpp), with the reply judged as a menu first.
template <class ClientStream>
awaitable<error> forward_and_rewrite(session_state& s, matched_route const& route,
                                     ClientStream& client, backend_stream& backend,
                                     net::const_buffer first);

} // namespace got
