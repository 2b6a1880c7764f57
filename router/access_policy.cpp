#include "access_policy.hpp"

#include "limits.hpp"

namespace got {

client_rate_table::address_key rate_key(boost::asio::ip::address const& addr)
{
    if (addr.is_v6())
        return addr.to_v6().to_bytes();
    auto mapped = boost::asio::ip::make_address_v6(boost::asio::ip::v4_mapped, addr.to_v4());
    return mapped.to_bytes();
}

bool lists_permit(access_lists const& lists, boost::asio::ip::address const& addr)
{
    if (lists.empty())
        return true;
    if (addr.is_v4()) {
        auto bytes = addr.to_v4().to_bytes();
        return lists.permits(false, bytes.data());
    }
    auto bytes = addr.to_v6().to_bytes();
    return lists.permits(true, bytes.data());
}

error admit_to_listener(session_state const& s)
{
    auto addr = s.facts.client.address();
    if (!lists_permit(s.listener.config.access, addr)) {
        log_limit_hit(limit_kind::listener_deny, "listener " + s.listener.name +
                                                     ": allow/deny lists refused " +
                                                     addr.to_string());
        return error::denied;
    }
    auto const& limits = s.rt.cfg->limits;
    auto const& rate = limits.new_connections_per_ip;
    if (rate.count == 0)
        return error::ok;
    if (new_connection_rates().try_take(rate_key(addr), client_rate_table::clock::now(),
                                        rate.per_second(), limits.new_connections_burst))
        return error::ok;
    log_limit_hit(limit_kind::new_connections_per_ip,
                  "limits.new_connections_per_ip (" + rate.to_string() + ", burst " +
                      std::to_string(limits.new_connections_burst) + ") reached for " +
                      addr.to_string());
    return error::over_limit;
}

error admit_to_route(session_state const& s, route_config const& route)
{
    auto addr = s.facts.client.address();
    if (lists_permit(route.access, addr))
        return error::ok;
    log_limit_hit(limit_kind::route_deny,
                  "route " + route.name + ": allow/deny lists refused " + addr.to_string());
    return error::denied;
}

} // namespace got
