// The server_name and ALPN extension bodies, well-formed and malformed.
#include "common/client_hello_ext.hpp"

#include <gtest/gtest.h>

namespace got {
namespace {

std::vector<std::uint8_t> bytes(std::string_view s)
{
    return {s.begin(), s.end()};
}

TEST(ClientHelloExt, ServerName)
{
    EXPECT_EQ(hello_server_name(bytes(std::string_view("\x00\x09\x00\x00\x06"
                                                       "A.Test",
                                                       11))),
              "a.test");
    // A non-host_name entry first, then the host name.
    EXPECT_EQ(hello_server_name(bytes(std::string_view("\x00\x0b\x07\x00\x01x\x00\x00\x03"
                                                       "b.c",
                                                       14))),
              "b.c");
    EXPECT_EQ(hello_server_name({}), "");
    EXPECT_EQ(hello_server_name(bytes(std::string_view("\x00\x09\x00\x00\x60"
                                                       "A.Test",
                                                       11))),
              "")
        << "a name longer than its list";
    EXPECT_EQ(hello_server_name(bytes(std::string_view("\x00\x01\x00", 3))), "");
}

TEST(ClientHelloExt, AlpnProtocols)
{
    EXPECT_EQ(hello_alpn_protocols(bytes(std::string_view("\x00\x0a\x02h2\x06gopher", 12))),
              (std::vector<std::string>{"h2", "gopher"}));
    EXPECT_EQ(hello_alpn_protocols(bytes(std::string_view("\x00\x0a\x02h2\x09gopher", 12))),
              (std::vector<std::string>{"h2"}))
        << "a name past the end: the list ends at the last whole name";
    EXPECT_EQ(hello_alpn_protocols(bytes(std::string_view("\x00\x03\x02h2\x06gopher", 12))),
              (std::vector<std::string>{"h2"}))
        << "the list length bounds the names";
    EXPECT_TRUE(hello_alpn_protocols(bytes(std::string_view("\x00\x02\x00x", 4))).empty())
        << "an empty name ends the list";
    EXPECT_TRUE(hello_alpn_protocols({}).empty());
}

} // namespace
} // namespace got
