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
