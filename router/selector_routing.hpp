// Routing plaintext virtual hosts by selector (issue 18): what the match stage needs
// from a Gopher request line, and what the matched route does to it.
//
// Only when some route has a `selector_prefix` or the listener has `selector_vhost`
// does the router wait for the whole first line (selector_routing_rules); otherwise it
// reads the request as before. The prefix a route was chosen by is at the start of the
// request bytes, so stripping it drops that many bytes from the front; everything after
// the selector (TAB and search words, Gopher+ fields, more lines) goes on unchanged.
#pragma once

#include "common/route_table.hpp"
#include "inspect.hpp"
#include "runtime.hpp"
#include "session_state.hpp"

#include <boost/beast/core/flat_buffer.hpp>

namespace got {

// Whether this connection's route depends on its selector.
bool routes_by_selector(session_state const& s);

// The rules for reading the request line of this connection.
request_line_rules request_rules(session_state const& s);

// Records the selector facts from the request in `buf` (the selector, and the
// `;name` suffix when the listener has selector_vhost and the client sent no SNI).
void learn_selector(session_state& s, boost::beast::flat_buffer const& buf);

// The route query from the facts: the SNI (or the selector's vhost name), the listener's
// default route, the offered ALPN list and the selector.
route_query query_for(session_state const& s);

// The metrics of the prefix that chose `route`, or nullptr (none).
prefix_metrics* prefix_stats(route_runtime const& rs, matched_route const& route);

// After the match: records and counts the prefix, and for a route with strip_prefix drops the
// prefix from the front of the request in `buf`.
void apply_prefix(session_state& s, matched_route const& route, boost::beast::flat_buffer& buf);

} // namespace got
