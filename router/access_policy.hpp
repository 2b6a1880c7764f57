// Who may connect, judged on the client address after the PROXY header: a listener's and
// a route's `allow:` / `deny:` lists (config.hpp's `access_lists`: deny wins, a non-empty
// allow list admits only its blocks) and the per-address new-connection rate
// (`limits.new_connections_per_ip`, a token bucket per address in the process-wide
// `new_connection_rates()` table shared by every event loop).
//
// Each refusal is counted in got_router_limit_hits_total{limit} and logged at most once a
// second per kind (`log_limit_hit`). What the connection then sees is the caller's
// choice: a listener refusal closes it, a route refusal answers an error item.
#pragma once

#include "common/client_rate_table.hpp"
#include "common/error.hpp"
#include "session_state.hpp"

#include <boost/asio/ip/address.hpp>

namespace got {

// The address as the rate table keys it: IPv6 form, IPv4 (and v4-mapped) as ::ffff:a.b.c.d.
client_rate_table::address_key rate_key(boost::asio::ip::address const& addr);

// Whether `lists` let `addr` in; a v4-mapped address is matched as IPv4.
bool lists_permit(access_lists const& lists, boost::asio::ip::address const& addr);

// The listener's lists, then one token of the client's new-connection rate: error::ok,
// error::denied or error::over_limit (counted and logged).
error admit_to_listener(session_state const& s);

// The route's lists: error::ok or error::denied (counted and logged).
error admit_to_route(session_state const& s, route_config const& route);

} // namespace got
