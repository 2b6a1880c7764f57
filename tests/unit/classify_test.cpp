// The first-bytes decision, table-driven and one byte at a time.
#include "common/classify.hpp"

#include <gtest/gtest.h>
#include <string>
#include <vector>

namespace got {
namespace {

std::vector<std::uint8_t> bytes(std::initializer_list<int> list)
{
    std::vector<std::uint8_t> out;
    for (int b : list)
        out.push_back(static_cast<std::uint8_t>(b));
    return out;
}

first_bytes of(std::vector<std::uint8_t> const& b)
{
    return classify(b);
}

// A record header and handshake header: record payload `record`, ClientHello `hello`.
std::vector<std::uint8_t> hello_header(unsigned record, unsigned hello)
{
    return bytes({0x16, 0x03, 0x01, static_cast<int>(record >> 8), static_cast<int>(record & 0xff),
                  0x01, static_cast<int>(hello >> 16), static_cast<int>((hello >> 8) & 0xff),
                  static_cast<int>(hello & 0xff)});
}

TEST(Classify, Table)
{
    EXPECT_EQ(of({}), first_bytes::need_more);
    EXPECT_EQ(of(bytes({'/'})), first_bytes::plain);
    EXPECT_EQ(of(bytes({'\r', '\n'})), first_bytes::plain);
    EXPECT_EQ(of(bytes({0x80})), first_bytes::bad_tls) << "an SSLv2-style hello";
    EXPECT_EQ(of(bytes({0x16})), first_bytes::need_more);
    EXPECT_EQ(of(bytes({0x16, 0x02})), first_bytes::bad_tls) << "not TLS 3.x";
    EXPECT_EQ(of(bytes({0x16, 0x03, 0x01, 0x00})), first_bytes::need_more);
    EXPECT_EQ(of(bytes({0x16, 0x03, 0x01, 0x00, 0x00})), first_bytes::bad_tls) << "empty record";
    EXPECT_EQ(of(bytes({0x16, 0x03, 0x01, 0x00, 0x01})), first_bytes::need_more);
    EXPECT_EQ(of(bytes({0x16, 0x03, 0x01, 0x00, 0x01, 0x01})), first_bytes::tls)
        << "a ClientHello re-framed into one-byte records";
    EXPECT_EQ(of(bytes({0x16, 0x03, 0x01, 0x02, 0x00, 0x02})), first_bytes::bad_tls)
        << "not a ClientHello";
    EXPECT_EQ(of(hello_header(512, 508)), first_bytes::tls) << "a hello filling its record";
    EXPECT_EQ(of(hello_header(512, 200)), first_bytes::tls);
    EXPECT_EQ(of(hello_header(512, 15000)), first_bytes::tls) << "a hello spanning records";
}

TEST(Classify, ByteByByteDecidesOnceAndNeverFlips)
{
    std::vector<std::vector<std::uint8_t>> inputs{hello_header(512, 300), hello_header(40, 100),
                                                  bytes({'/', 'a', 'b', '\r', '\n'})};
    for (auto const& input : inputs) {
        auto whole = of(input);
        auto first = first_bytes::need_more;
        for (std::size_t n = 0; n <= input.size(); ++n) {
            auto now = classify(std::span(input.data(), n));
            if (first == first_bytes::need_more)
                first = now;
            else
                EXPECT_EQ(now, first) << "after " << n << " bytes";
        }
        EXPECT_EQ(first, whole);
    }
}

plain_kind plain_of(std::string_view text)
{
    return classify_plain(
        std::span(reinterpret_cast<std::uint8_t const*>(text.data()), text.size()));
}

TEST(ClassifyPlain, Table)
{
    struct row
    {
        std::string text;
        plain_kind expected;
    };
    row const rows[] = {
        {"", plain_kind::need_more},
        {"G", plain_kind::need_more},
        {"GET", plain_kind::need_more},
        {"GET ", plain_kind::need_more},
        {"GET /", plain_kind::http},
        {"GET /?url=gopher://a.test/ HTTP/1.1\r\n", plain_kind::http},
        {"HEAD /", plain_kind::http},
        {"POST /x", plain_kind::http},
        {"OPTIONS /", plain_kind::http},
        {"\r\n", plain_kind::gopher},
        {"/", plain_kind::gopher},
        {"GE\r\n", plain_kind::gopher},
        {"GET\r\n", plain_kind::gopher},
        {"GET x", plain_kind::gopher},
        {"get /", plain_kind::gopher},
        {"GETTING /", plain_kind::gopher},
        {"GET  /", plain_kind::gopher},
        {"P", plain_kind::need_more},
        {"PU", plain_kind::need_more},
        {"PUX", plain_kind::gopher},
        {"about.txt\r\n", plain_kind::gopher},
    };
    for (auto const& r : rows)
        EXPECT_EQ(plain_of(r.text), r.expected) << r.text;
}

// Fed one byte more at a time, the verdict is decided once and never changes.
TEST(ClassifyPlain, ByteByByteNeverFlips)
{
    for (std::string text : {"GET /x HTTP/1.1\r\n", "HEAD / HTTP/1.0\r\n", "GE\r\n", "DELETE /a",
                             "/1/menu\r\n", "\x16\x03\x01"}) {
        auto const whole = plain_of(text);
        ASSERT_NE(whole, plain_kind::need_more) << text;
        bool decided = false;
        for (std::size_t n = 0; n <= text.size(); ++n) {
            auto v = plain_of(std::string_view(text).substr(0, n));
            if (decided) {
                EXPECT_EQ(v, whole) << text << " at " << n;
            }
            if (v != plain_kind::need_more) {
                EXPECT_EQ(v, whole) << text << " at " << n;
                decided = true;
            }
        }
    }
}

} // namespace
} // namespace got
