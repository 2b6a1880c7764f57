#include "config.hpp"

#include <algorithm>

namespace got {

std::string endpoint::to_string() const
{
    auto port_text = std::to_string(port);
    if (host.find(':') != std::string::npos)
        return "[" + host + "]:" + port_text;
    return host + ":" + port_text;
}

bool access_lists::permits(bool addr_v6, std::uint8_t const* addr) const
{
    auto inside = [&](cidr_block const& b) { return b.contains(addr_v6, addr); };
    if (std::any_of(deny.begin(), deny.end(), inside))
        return false;
    return allow.empty() || std::any_of(allow.begin(), allow.end(), inside);
}

double rate_config::per_second() const
{
    return static_cast<double>(count) * 1000.0 / static_cast<double>(per.count());
}

std::string rate_config::to_string() const
{
    auto unit = per == std::chrono::hours(1) ? "h" : per == std::chrono::minutes(1) ? "m" : "s";
    return std::to_string(count) + "/" + unit;
}

route_config const* config::find_route(std::string_view name) const
{
    auto it = std::find_if(routes.begin(), routes.end(),
                           [name](route_config const& r) { return r.name == name; });
    return it == routes.end() ? nullptr : &*it;
}

certificate_config const* config::default_certificate() const
{
    if (certificates.empty())
        return nullptr;
    auto it = std::find_if(certificates.begin(), certificates.end(),
                           [](certificate_config const& c) { return c.is_default; });
    return it == certificates.end() ? &certificates.front() : &*it;
}

} // namespace got
