// Gopher over HTTP (GoH) requests, sans-io: from an HTTP request target
// (`/path?url=gopher%3A%2F%2Fhost%2F1%2Fsel`) to the Gopher item it names. Plain
// functions over strings; the handler (router/goh_handler.cpp) and the fuzz target
// fuzz_goh_url drive them.
//
// The `url` query parameter is decoded as URLSearchParams decodes it (`+` is a space,
// `%XX` a byte, a broken escape stays as written), as the reference (npm goh) reads it.
// The Gopher URL follows RFC 4266: `gopher://host[:port]/<type><selector>`; the item
// type is the first path character and is not sent; the selector's percent-escapes are
// decoded (`%09` is the TAB before search words). Unlike goh, which sends the path's
// bytes as written, a selector is decoded, and one that would hold CR, LF or NUL (a
// second request smuggled into the backend's line) is refused.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace got::goh {

// The Gopher item a GoH request names.
struct gopher_target
{
    std::string host;        // lower case; an IPv6 literal without its brackets
    std::uint16_t port = 70; // 70 when the URL names none
    char type = '1';         // the path's first character; `1` for an empty path
    std::string selector;    // decoded, without the type; what is sent before CRLF
};

// Why a URL names no Gopher item; each is a 400 for the client.
enum class url_error
{
    not_gopher,   // no `gopher://` scheme
    bad_host,     // empty, or bytes a host name or IP literal cannot hold
    bad_port,     // not 1..65535
    bad_escape,   // `%` without two hex digits in the path
    bad_selector, // CR, LF or NUL after decoding, or a control byte as the type
    too_long,     // selector over max_selector
};

std::string_view describe(url_error e) noexcept;

// The longest selector (with its search words) sent to a backend; the same bound as a
// plaintext Gopher request line.
inline constexpr std::size_t max_selector = 4096;

struct parsed_url
{
    std::optional<gopher_target> target;
    url_error error = url_error::not_gopher; // when there is no target
};

// A Gopher URL (already taken out of the query string and decoded from it).
parsed_url parse_gopher_url(std::string_view url);

// The request target's path (before `?`), as sent (not decoded).
std::string_view target_path(std::string_view request_target) noexcept;

// The first value of query parameter `name` in the request target, decoded as
// URLSearchParams does; none when the target has no such parameter.
std::optional<std::string> query_parameter(std::string_view request_target, std::string_view name);

// `%XX` and `+` decoded as application/x-www-form-urlencoded: a `%` not followed by two
// hex digits is kept as it is.
std::string form_decode(std::string_view s);

// The Gopher URL for a target, as the browse page and Via name it: the host (brackets
// for IPv6), `:port` unless 70, then `/type` and the selector percent-encoded where
// it must be (TAB as %09, space, `%`, `#`, `?`, controls and non-ASCII).
std::string to_url(gopher_target const& t);

} // namespace got::goh
