// backend_tls_context (router/backend_tls.cpp): the client side of GoT to a backend,
// exercised by in-memory handshakes (a BIO pair, no socket) against a server context
// with a certificate made here: verification of the name and of an IP address, SNI and
// ALPN offered, and the session cache (TLS 1.3 tickets taken once each, bounded).
#include "backend_tls.hpp"
#include "temp_dir.hpp"
#include "test_certs.hpp"

#include <boost/asio/ip/address.hpp>
#include <fstream>
#include <gtest/gtest.h>
#include <openssl/err.h>

namespace got::test {
namespace {

// One server SSL_CTX with a self-signed certificate for goth.test (CA:TRUE, so the client
// may trust it as its own CA), ALPN gopher selected when offered.
class BackendTls : public ::testing::Test
{
protected:
    BackendTls()
    {
        files_ = write_self_signed(dir_.path(), "goth", {"goth", {"goth.test"}});
        server_ctx_ = SSL_CTX_new(TLS_server_method());
        SSL_CTX_use_certificate_chain_file(server_ctx_, files_.cert.c_str());
        SSL_CTX_use_PrivateKey_file(server_ctx_, files_.key.c_str(), SSL_FILETYPE_PEM);
        SSL_CTX_set_alpn_select_cb(
            server_ctx_,
            [](SSL*, unsigned char const** out, unsigned char* outlen, unsigned char const* in,
               unsigned inlen, void*) {
                return SSL_select_next_proto(const_cast<unsigned char**>(out), outlen,
                                             reinterpret_cast<unsigned char const*>("\6gopher"), 7,
                                             in, inlen) == OPENSSL_NPN_NEGOTIATED
                           ? SSL_TLSEXT_ERR_OK
                           : SSL_TLSEXT_ERR_ALERT_FATAL;
            },
            nullptr);
    }
    ~BackendTls() override { SSL_CTX_free(server_ctx_); }

    std::shared_ptr<backend_tls_context> context(backend_tls_config cfg)
    {
        std::string error;
        auto c = backend_tls_context::build(cfg, error);
        EXPECT_TRUE(c) << error;
        return c;
    }

    // A handshake between a client SSL prepared by `c` for `peer` and our server; reads
    // what the server sends after it (TLS 1.3 tickets). Returns the client SSL's facts.
    struct outcome
    {
        bool ok = false;
        bool resumed = false;
        std::string alpn;
        std::string sni_seen;
        backend_tls_failure failure;
    };
    outcome handshake(backend_tls_context const& c, std::string const& peer = "127.0.0.1")
    {
        SSL* client = SSL_new(c.native());
        SSL* server = SSL_new(server_ctx_);
        BIO *cb, *sb;
        BIO_new_bio_pair(&cb, 0, &sb, 0);
        SSL_set_bio(client, cb, cb);
        SSL_set_bio(server, sb, sb);
        SSL_set_connect_state(client);
        SSL_set_accept_state(server);
        outcome o;
        EXPECT_TRUE(c.prepare(client, boost::asio::ip::make_address(peer), peer));
        int rc = -1, rs = -1;
        for (int i = 0; i < 20 && !(rc == 1 && rs == 1); ++i) {
            rc = SSL_do_handshake(client);
            rs = SSL_do_handshake(server);
        }
        o.ok = rc == 1 && rs == 1;
        if (o.ok) {
            SSL_write(server, "x", 1);
            char b;
            SSL_read(client, &b, 1); // takes the tickets that came first
            o.resumed = SSL_session_reused(client) == 1;
            unsigned char const* p = nullptr;
            unsigned n = 0;
            SSL_get0_alpn_selected(client, &p, &n);
            o.alpn.assign(reinterpret_cast<char const*>(p), n);
            if (auto const* name = SSL_get_servername(server, TLSEXT_NAMETYPE_host_name))
                o.sni_seen = name;
            SSL_shutdown(client); // a clean end keeps the session resumable
        } else {
            o.failure = describe_backend_tls_failure(client, {}, c.config().verify);
        }
        ERR_clear_error();
        SSL_free(client);
        SSL_free(server);
        return o;
    }

    backend_tls_config trusting()
    {
        backend_tls_config cfg;
        cfg.sni = "goth.test";
        cfg.ca = files_.cert.string();
        return cfg;
    }

    temp_dir dir_;
    certificate_files files_;
    SSL_CTX* server_ctx_ = nullptr;
};

TEST_F(BackendTls, VerifiesOffersAlpnAndSendsSni)
{
    auto c = context(trusting());
    auto o = handshake(*c);
    ASSERT_TRUE(o.ok) << o.failure.reason;
    EXPECT_EQ(o.alpn, "gopher");
    EXPECT_EQ(o.sni_seen, "goth.test");
    EXPECT_FALSE(o.resumed);
}

TEST_F(BackendTls, RefusesAnotherNameAndAnUntrustedCertificate)
{
    auto cfg = trusting();
    cfg.sni = "other.test";
    auto o = handshake(*context(cfg));
    EXPECT_FALSE(o.ok);
    EXPECT_TRUE(o.failure.verify);
    EXPECT_NE(o.failure.reason.find("hostname mismatch"), std::string::npos) << o.failure.reason;

    auto other = write_self_signed(dir_.path(), "other", {"other", {"goth.test"}});
    cfg = trusting();
    cfg.ca = other.cert.string();
    o = handshake(*context(cfg));
    EXPECT_FALSE(o.ok);
    EXPECT_TRUE(o.failure.verify);

    cfg.verify = false; // nothing checked
    cfg.ca.clear();
    EXPECT_TRUE(handshake(*context(cfg)).ok);
}

TEST_F(BackendTls, AnIpAddressWithoutSniIsCheckedAgainstTheIpSan)
{
    auto cfg = trusting();
    cfg.sni.clear();
    auto o = handshake(*context(cfg), "127.0.0.1");
    EXPECT_FALSE(o.ok) << "the certificate has no IP SAN";
    EXPECT_NE(o.failure.reason.find("IP address mismatch"), std::string::npos) << o.failure.reason;
    EXPECT_EQ(o.sni_seen, "");
}

TEST_F(BackendTls, TicketsAreResumedOnceEach)
{
    auto c = context(trusting());
    ASSERT_TRUE(handshake(*c).ok);
    // OpenSSL's server sends two tickets after a full TLS 1.3 handshake.
    EXPECT_EQ(c->cached_sessions(), 2u);
    // From now on the server sends none: each ticket gives one resumption (OpenSSL's
    // client would not resume a TLS 1.3 session twice), then a full handshake.
    SSL_CTX_set_num_tickets(server_ctx_, 0);
    EXPECT_TRUE(handshake(*c).resumed);
    EXPECT_EQ(c->cached_sessions(), 1u);
    EXPECT_TRUE(handshake(*c).resumed);
    EXPECT_EQ(c->cached_sessions(), 0u);
    EXPECT_FALSE(handshake(*c).resumed);
    // Another address has its own sessions: none yet.
    EXPECT_FALSE(handshake(*c, "127.0.0.2").resumed);
}

TEST_F(BackendTls, TheCacheIsBounded)
{
    auto c = context(trusting());
    for (int i = 0; i < 5; ++i)
        ASSERT_TRUE(handshake(*c).ok);
    EXPECT_LE(c->cached_sessions(), backend_tls_context::sessions_per_address);
}

TEST_F(BackendTls, BuildReportsUnusableFiles)
{
    std::ofstream(dir_.path() / "junk.pem") << "not a certificate\n";
    backend_tls_config cfg;
    cfg.ca = (dir_.path() / "junk.pem").string();
    std::string error;
    EXPECT_FALSE(backend_tls_context::build(cfg, error));
    EXPECT_NE(error.find("junk.pem"), std::string::npos) << error;

    cfg = backend_tls_config{};
    cfg.cert = files_.cert.string();
    cfg.key = write_unrelated_key(dir_.path(), "unrelated").string();
    error.clear();
    EXPECT_FALSE(backend_tls_context::build(cfg, error));
    EXPECT_NE(error.find("client key"), std::string::npos) << error;
}

} // namespace
} // namespace got::test
