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

} // namespace
} // namespace got
