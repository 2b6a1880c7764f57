// The server_name and ALPN extension bodies, well-formed and malformed.
#include "common/client_hello_ext.hpp"

#include <gtest/gtest.h>

namespace got {
namespace {

// The bytes of a string literal, embedded NULs included, without its terminating NUL.
template <std::size_t N>
std::vector<std::uint8_t> raw(char const (&literal)[N])
{
    return {literal, literal + N - 1};
}

TEST(ClientHelloExt, ServerName)
{
    // (Literals split where a name starts with a hex digit: "\x06" "A" is two bytes.)
    EXPECT_EQ(hello_server_name(raw("\x00\x09\x00\x00\x06"
                                    "A.Test")),
              "a.test");
    // A non-host_name entry first, then the host name.
    EXPECT_EQ(hello_server_name(raw("\x00\x0a\x07\x00\x01x\x00\x00\x03"
                                    "b.c")),
              "b.c");
    EXPECT_EQ(hello_server_name({}), "");
    EXPECT_EQ(hello_server_name(raw("\x00\x09\x00\x00\x60"
                                    "A.Test")),
              "")
        << "a name longer than its list";
    EXPECT_EQ(hello_server_name(raw("\x00\x01\x00")), "");
}

TEST(ClientHelloExt, AlpnProtocols)
{
    EXPECT_EQ(hello_alpn_protocols(raw("\x00\x0a\x02h2\x06gopher")),
              (std::vector<std::string>{"h2", "gopher"}));
    EXPECT_EQ(hello_alpn_protocols(raw("\x00\x0a\x02h2\x09gopher")),
              (std::vector<std::string>{"h2"}))
        << "a name past the end: the list ends at the last whole name";
    EXPECT_EQ(hello_alpn_protocols(raw("\x00\x03\x02h2\x06gopher")),
              (std::vector<std::string>{"h2"}))
        << "the list length bounds the names";
    EXPECT_TRUE(hello_alpn_protocols(raw("\x00\x02\x00x")).empty())
        << "an empty name ends the list";
    EXPECT_TRUE(hello_alpn_protocols({}).empty());
}

} // namespace
} // namespace got
