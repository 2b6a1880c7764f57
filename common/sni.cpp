#include "sni.hpp"

#include <algorithm>
#include <arpa/inet.h>

namespace got::sni {

namespace {

char lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool is_ip_literal(std::string_view s)
{
    if (s.find(':') != std::string_view::npos)
        return true;
    std::string tmp(s);
    in_addr a{};
    return ::inet_pton(AF_INET, tmp.c_str(), &a) == 1;
}

bool valid_label(std::string_view label)
{
    if (label.empty() || label.size() > 63)
        return false;
    return std::all_of(label.begin(), label.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
    });
}

bool valid_name(std::string_view name)
{
    if (name.empty() || name.size() > 253)
        return false;
    std::size_t start = 0;
    for (;;) {
        auto dot = name.find('.', start);
        auto label = name.substr(start, dot == std::string_view::npos ? name.npos : dot - start);
        if (!valid_label(label))
            return false;
        if (dot == std::string_view::npos)
            return true;
        start = dot + 1;
    }
}

} // namespace

std::string normalise(std::string_view name)
{
    if (!name.empty() && name.back() == '.')
        name.remove_suffix(1);
    if (name.empty() || name.size() > 253 || is_ip_literal(name))
        return {};
    std::string out;
    out.reserve(name.size());
    for (char c : name)
        out.push_back(lower(c));
    if (!valid_name(out))
        return {};
    return out;
}

bool is_wildcard(std::string_view pattern)
{
    return pattern.starts_with("*.");
}

std::optional<std::string> wildcard_for(std::string_view name)
{
    auto dot = name.find('.');
    if (dot == std::string_view::npos || dot == 0 || dot + 1 >= name.size())
        return std::nullopt;
    std::string w = "*";
    w.append(name.substr(dot));
    return w;
}

bool valid_pattern(std::string_view pattern)
{
    if (is_wildcard(pattern))
        return valid_name(pattern.substr(2));
    return valid_name(pattern);
}

} // namespace got::sni
