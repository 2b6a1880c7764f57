// Fuzz target: the Gopher menu decision and rewrite (common/gopher_menu.hpp).
//
// The whole input is a reply; the rule is fixed, with a backend address the fuzzer can
// write (`h:1`, `127.0.0.1:7070`). Checks: a reply that is not a menu is never
// rewritten; a rewrite never exceeds max_menu_size, is itself a menu with as many lines,
// and is the same on a second run; a menu with no item of the backend comes back
// unchanged; the selector prefix helpers agree (a selector with a prefix keeps it).
#include "common/gopher_menu.hpp"
#include "common/selector.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

[[noreturn]] void fail(char const* what, int line)
{
    std::fprintf(stderr, "fuzz_gopher_menu.cpp:%d: invariant failed: %s\n", line, what);
    std::abort();
}

#define FUZZ_CHECK(cond) ((cond) ? void() : fail(#cond, __LINE__))

namespace menu = got::gopher_menu;

std::array<menu::host_port, 2> const backend{menu::host_port{"h", 1},
                                             menu::host_port{"127.0.0.1", 7070}};
menu::rewrite_rule const rule{"/p", {"public.example", 70}, backend};
menu::rewrite_rule const to_nowhere{"/p", {"public.example", 70}, {}};

std::size_t lines(std::string_view s)
{
    return static_cast<std::size_t>(std::count(s.begin(), s.end(), '\n'));
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size)
{
    std::string_view reply(reinterpret_cast<char const*>(data), size);
    bool const menu_in = menu::is_menu(reply);
    auto out = menu::rewrite(reply, rule);
    if (!menu_in)
        FUZZ_CHECK(!out);
    if (out) {
        FUZZ_CHECK(out->size() <= menu::max_menu_size);
        FUZZ_CHECK(menu::is_menu(*out));
        FUZZ_CHECK(lines(*out) == lines(reply));
        auto again = menu::rewrite(reply, rule);
        FUZZ_CHECK(again && *again == *out);
    }
    if (menu_in) {
        auto same = menu::rewrite(reply, to_nowhere);
        FUZZ_CHECK(same && *same == reply);
    }
    auto sel = got::selector::of_request(reply);
    FUZZ_CHECK(sel.find_first_of("\t\r\n") == std::string_view::npos);
    if (got::selector::prefix_problem(sel).empty())
        FUZZ_CHECK(got::selector::has_prefix(std::string(sel) + "/x", sel));
    return 0;
}
