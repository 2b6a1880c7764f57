#include "selector.hpp"

#include "sni.hpp"

namespace got::selector {

std::string_view of_request(std::string_view request)
{
    return request.substr(0, request.find_first_of("\t\r\n"));
}

bool has_prefix(std::string_view selector, std::string_view prefix)
{
    if (prefix.empty() || !selector.starts_with(prefix))
        return false;
    if (selector.size() == prefix.size())
        return true;
    auto const next = selector[prefix.size()];
    return next == '/' || next == '?';
}

std::string prefix_problem(std::string_view prefix)
{
    if (prefix.empty())
        return "a selector prefix must not be empty (a route without selector_prefix is the "
               "fallback)";
    if (prefix.size() > 255)
        return "a selector prefix must be at most 255 bytes (RFC 1436), got " +
               std::to_string(prefix.size());
    if (prefix.find_first_of(std::string_view("\t\r\n\0", 4)) != std::string_view::npos)
        return "a selector prefix must not contain TAB, CR, LF or NUL";
    if (prefix.ends_with('/'))
        return "a selector prefix must not end with \"/\": write \"" +
               std::string(prefix.substr(0, prefix.find_last_not_of('/') + 1)) +
               "\", which matches itself and every selector below it";
    if (prefix.find('?') != std::string_view::npos || prefix.find(';') != std::string_view::npos)
        return "a selector prefix must not contain \"?\" or \";\" (they start a query or a "
               "virtual host suffix)";
    return {};
}

std::optional<vhost_split> split_vhost(std::string_view selector)
{
    auto semi = selector.rfind(';');
    if (semi == std::string_view::npos)
        return std::nullopt;
    auto name = sni::normalise(selector.substr(semi + 1));
    if (name.empty() || name.find('*') != std::string::npos)
        return std::nullopt;
    return vhost_split{selector.substr(0, semi), std::move(name)};
}

} // namespace got::selector
