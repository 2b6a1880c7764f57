// Gopher menus (RFC 1436 directories) as a legacy gopherd behind a stripped selector
// prefix writes them, and the rewrite that makes their links work through the router.
//
// The decision is all-or-nothing and made on the whole reply: a reply is a menu only when
// every line is `type display TAB selector TAB host TAB port [TAB more]`, the type a
// printable ASCII byte other than `.`, the port 1 to 5 digits, and the reply ends with a
// line holding `.` and nothing after it, or (as pygopherd writes menus for Gopher0
// clients) right after the end of its last item line. Lines end in CRLF or a bare LF
// (some gopherds write LF); each line keeps the ending it had. Anything else (an empty
// reply, a last line without its end, bytes after the `.` line, any line that is not an
// item), or a reply over max_menu_size, is not a menu and must go to the client byte
// for byte: a binary that merely looks like a menu in its first kilobytes is never
// touched.
//
// In a menu, an item that points at the backend (its host and port are one of
// `rewrite_rule::backend`, host compared case-blind) gets the public host and port and
// the prefix before its selector. Left as they are: info (`i`) and error (`3`) lines,
// `h` items whose selector starts with `URL:`, items pointing elsewhere, and selectors
// that do not start with `/` or `?` and are not empty (a prefix before them would not
// strip back to the same selector).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace got::gopher_menu {

// The largest reply that is buffered to be judged, and the largest rewritten menu sent.
inline constexpr std::size_t max_menu_size = 1024 * 1024;

struct host_port
{
    std::string_view host;
    std::uint16_t port = 0;
};

struct rewrite_rule
{
    std::string_view prefix;            // put before the selector of a rewritten item
    host_port public_address;           // what a rewritten item points at
    std::span<host_port const> backend; // the names the backend's items point at
};

// Whether `reply` is a whole Gopher menu, as defined above.
bool is_menu(std::string_view reply);

// The rewritten menu, or nullopt when `reply` is not a menu or the rewritten menu would
// exceed max_menu_size: the caller then sends `reply` unchanged.
std::optional<std::string> rewrite(std::string_view reply, rewrite_rule const& rule);

} // namespace got::gopher_menu
