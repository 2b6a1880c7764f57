#include "client_hello_ext.hpp"

#include "sni.hpp"

#include <algorithm>

namespace got {

namespace {

constexpr std::uint8_t host_name_type = 0; // RFC 6066 NameType host_name

std::size_t read16(std::uint8_t const* p)
{
    return static_cast<std::size_t>(p[0]) << 8 | p[1];
}

// The list a 2-byte length prefix announces, cut to the bytes there are.
std::span<std::uint8_t const> prefixed_list(std::span<std::uint8_t const> body)
{
    if (body.size() < 2)
        return {};
    return body.subspan(2, std::min(body.size() - 2, read16(body.data())));
}

} // namespace

std::string hello_server_name(std::span<std::uint8_t const> body)
{
    auto list = prefixed_list(body);
    while (list.size() >= 3) {
        auto const type = list[0];
        auto const n = read16(list.data() + 1);
        if (n > list.size() - 3)
            return {};
        if (type == host_name_type)
            return sni::normalise(
                std::string_view(reinterpret_cast<char const*>(list.data() + 3), n));
        list = list.subspan(3 + n);
    }
    return {};
}

std::vector<std::string> hello_alpn_protocols(std::span<std::uint8_t const> body)
{
    std::vector<std::string> out;
    auto list = prefixed_list(body);
    while (!list.empty()) {
        std::size_t const n = list[0];
        if (n == 0 || n > list.size() - 1)
            break;
        out.emplace_back(reinterpret_cast<char const*>(list.data() + 1), n);
        list = list.subspan(1 + n);
    }
    return out;
}

} // namespace got
