// The server_name and ALPN extension bodies, well-formed and malformed; whole
// ClientHellos as OpenSSL's client writes them, whole, cut, split and damaged.
#include "common/client_hello_ext.hpp"

#include <gtest/gtest.h>
#include <openssl/ssl.h>

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

constexpr std::size_t cap = 16 * 1024 + 5;

// The first flight of a real OpenSSL client: one TLS record holding the ClientHello.
std::vector<std::uint8_t> openssl_client_hello(char const* server_name,
                                               std::vector<std::uint8_t> const& alpn_wire)
{
    SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
    SSL* ssl = SSL_new(ctx);
    BIO* in = BIO_new(BIO_s_mem());
    BIO* out = BIO_new(BIO_s_mem());
    SSL_set_bio(ssl, in, out);
    if (server_name)
        SSL_set_tlsext_host_name(ssl, server_name);
    if (!alpn_wire.empty())
        SSL_set_alpn_protos(ssl, alpn_wire.data(), static_cast<unsigned>(alpn_wire.size()));
    SSL_connect(ssl); // wants to read: the ClientHello is in `out`
    char* data = nullptr;
    long n = BIO_get_mem_data(out, &data);
    std::vector<std::uint8_t> hello(data, data + n);
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    return hello;
}

// The same handshake message re-framed into records of at most `size` bytes each.
std::vector<std::uint8_t> split_records(std::vector<std::uint8_t> const& one_record,
                                        std::size_t size)
{
    std::vector<std::uint8_t> out;
    for (std::size_t at = 5; at < one_record.size(); at += size) {
        auto n = std::min(size, one_record.size() - at);
        out.insert(out.end(), {22, 3, 1, static_cast<std::uint8_t>(n >> 8),
                               static_cast<std::uint8_t>(n & 0xff)});
        out.insert(out.end(), one_record.begin() + static_cast<long>(at),
                   one_record.begin() + static_cast<long>(at + n));
    }
    return out;
}

std::vector<std::uint8_t> const gopher_and_h2 = {6, 'g', 'o', 'p', 'h', 'e', 'r', 2, 'h', '2'};

TEST(ScanClientHello, ReadsWhatTheCallbackReads)
{
    auto hello = openssl_client_hello("Gopher.Example", gopher_and_h2);
    ASSERT_GT(hello.size(), 100u);
    auto r = scan_client_hello(hello, cap);
    EXPECT_EQ(r.status, hello_scan::complete);
    EXPECT_EQ(r.server_name, "gopher.example");
    EXPECT_EQ(r.alpn, (std::vector<std::string>{"gopher", "h2"}));

    auto bare = scan_client_hello(openssl_client_hello(nullptr, {}), cap);
    EXPECT_EQ(bare.status, hello_scan::complete);
    EXPECT_EQ(bare.server_name, "");
    EXPECT_TRUE(bare.alpn.empty());
}

TEST(ScanClientHello, EveryCutIsNeedMore)
{
    auto hello = openssl_client_hello("a.test", gopher_and_h2);
    for (std::size_t n = 0; n < hello.size(); ++n)
        ASSERT_EQ(scan_client_hello(std::span(hello).first(n), cap).status, hello_scan::need_more)
            << "cut at " << n;
    hello.insert(hello.end(), {23, 3, 3, 0, 1, 0}); // what follows is not looked at
    EXPECT_EQ(scan_client_hello(hello, cap).status, hello_scan::complete);
}

TEST(ScanClientHello, SpanningRecords)
{
    auto hello = openssl_client_hello("split.test", gopher_and_h2);
    for (std::size_t size : {1u, 3u, 4u, 100u, 511u}) {
        auto split = split_records(hello, size);
        auto r = scan_client_hello(split, cap);
        ASSERT_EQ(r.status, hello_scan::complete) << "records of " << size;
        EXPECT_EQ(r.server_name, "split.test");
        EXPECT_EQ(r.alpn.size(), 2u);
        EXPECT_EQ(scan_client_hello(std::span(split).first(split.size() - 1), cap).status,
                  hello_scan::need_more);
    }
    // Record headers count against the cap: 1-byte records make it five times larger.
    auto tiny = split_records(hello, 1);
    EXPECT_EQ(scan_client_hello(tiny, tiny.size() - 1).status, hello_scan::other);
    EXPECT_EQ(scan_client_hello(tiny, tiny.size()).status, hello_scan::complete);
}

TEST(ScanClientHello, DamageIsOther)
{
    auto const hello = openssl_client_hello("a.test", gopher_and_h2);
    auto damaged = [&](std::size_t at, std::uint8_t value) {
        auto copy = hello;
        copy[at] = value;
        return scan_client_hello(copy, cap).status;
    };
    EXPECT_EQ(damaged(0, 23), hello_scan::other) << "not a handshake record";
    EXPECT_EQ(damaged(1, 2), hello_scan::other) << "record version 2.x";
    EXPECT_EQ(damaged(5, 2), hello_scan::other) << "a ServerHello";
    EXPECT_EQ(damaged(43, 33), hello_scan::other) << "session id longer than 32";

    auto zero_record = hello;
    zero_record[3] = zero_record[4] = 0;
    EXPECT_EQ(scan_client_hello(zero_record, cap).status, hello_scan::other);

    // The message one byte shorter than its record: the extensions overrun it.
    auto short_message = hello;
    short_message[8] = static_cast<std::uint8_t>(short_message[8] - 1);
    EXPECT_EQ(scan_client_hello(short_message, cap).status, hello_scan::other);

    EXPECT_EQ(scan_client_hello(hello, hello.size() - 1).status, hello_scan::other)
        << "larger than the cap";
}

TEST(ScanClientHello, AnExtensionTwiceIsOther)
{
    // A minimal ClientHello with two server_name extensions, built by hand.
    std::vector<std::uint8_t> body = {3, 3};
    body.insert(body.end(), 32, 0x11);                    // random
    body.insert(body.end(), {0, 0, 2, 0x13, 0x01, 1, 0}); // no session id, one suite, null
    std::vector<std::uint8_t> sni = {0, 0, 0, 8, 0, 6, 0, 0, 3, 'a', '.', 'b'};
    std::vector<std::uint8_t> exts = sni;
    auto hello_with = [&](std::vector<std::uint8_t> const& e) {
        auto b = body;
        b.insert(b.end(), {static_cast<std::uint8_t>(e.size() >> 8),
                           static_cast<std::uint8_t>(e.size() & 0xff)});
        b.insert(b.end(), e.begin(), e.end());
        std::vector<std::uint8_t> rec = {22,
                                         3,
                                         1,
                                         static_cast<std::uint8_t>((b.size() + 4) >> 8),
                                         static_cast<std::uint8_t>((b.size() + 4) & 0xff),
                                         1,
                                         0,
                                         static_cast<std::uint8_t>(b.size() >> 8),
                                         static_cast<std::uint8_t>(b.size() & 0xff)};
        rec.insert(rec.end(), b.begin(), b.end());
        return scan_client_hello(rec, cap);
    };
    auto once = hello_with(exts);
    EXPECT_EQ(once.status, hello_scan::complete);
    EXPECT_EQ(once.server_name, "a.b");
    exts.insert(exts.end(), sni.begin(), sni.end());
    EXPECT_EQ(hello_with(exts).status, hello_scan::other);
    EXPECT_EQ(hello_with({}).status, hello_scan::complete) << "an empty extension list";
}

} // namespace
} // namespace got
