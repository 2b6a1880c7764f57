// got_key_update_client: a TLS 1.3 client that rotates keys while the server's write to
// it is stalled, for the integration test of router/tls_stream's post-handshake handling.
//
//   got_key_update_client --port P [--servername NAME] --selector SEL [--rounds R]
//                         [--pause-ms MS] [--rcvbuf BYTES] [--read-size BYTES]
//
// It connects to 127.0.0.1:P with a small SO_RCVBUF, sends `SEL CRLF`, and reads the
// reply. In each round it first stops reading for MS milliseconds (the server's send
// buffer and our receive buffer fill, so the server's write stalls, typically part way
// through a record), then sends two KeyUpdate messages back to back and reads on. The
// pairs cycle through (requested, not requested), (not requested, requested),
// (requested, requested), (not requested, not requested), so both kinds arrive while a
// write is stalled and while a reply to an update_requested is still owed.
//
// Prints one line on stdout and exits 0 when the reply ended with close_notify:
//   bytes=N sha256=HEX sent=S requested=Q received=K
// where S is the number of KeyUpdates sent, Q how many of them had update_requested and
// K how many KeyUpdates came from the server. Anything else: a message on stderr, exit 1.
// Test code: no certificate verification (the router's test certificates are
// self-signed); the reply is checked by its digest instead.
#include <arpa/inet.h>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <string>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace {

struct options
{
    int port = 0;
    std::string servername = "a.test";
    std::string selector;
    int rounds = 8;
    int pause_ms = 300;
    int rcvbuf = 4096;
    int read_size = 1024;
};

int received_key_updates = 0;

[[noreturn]] void fail(std::string const& what)
{
    std::fprintf(stderr, "got_key_update_client: %s\n", what.c_str());
    unsigned long code = 0;
    while ((code = ERR_get_error()) != 0) {
        char text[256];
        ERR_error_string_n(code, text, sizeof text);
        std::fprintf(stderr, "  %s\n", text);
    }
    std::exit(1);
}

options parse(int argc, char** argv)
{
    options o;
    for (int i = 1; i < argc; ++i) {
        std::string arg = argv[i];
        if (i + 1 >= argc)
            fail("missing value for " + arg);
        std::string value = argv[++i];
        if (arg == "--port")
            o.port = std::atoi(value.c_str());
        else if (arg == "--servername")
            o.servername = value;
        else if (arg == "--selector")
            o.selector = value;
        else if (arg == "--rounds")
            o.rounds = std::atoi(value.c_str());
        else if (arg == "--pause-ms")
            o.pause_ms = std::atoi(value.c_str());
        else if (arg == "--rcvbuf")
            o.rcvbuf = std::atoi(value.c_str());
        else if (arg == "--read-size")
            o.read_size = std::atoi(value.c_str());
        else
            fail("unknown option " + arg);
    }
    if (o.port <= 0 || o.selector.empty() || o.read_size <= 0)
        fail("usage: --port P --selector SEL [--servername NAME] [--rounds R] [--pause-ms MS] "
             "[--rcvbuf BYTES] [--read-size BYTES]");
    return o;
}

// Counts the server's KeyUpdate messages (handshake type 24) as OpenSSL reads them.
void on_message(int write_p, int, int content_type, void const* buf, size_t len, SSL*, void*)
{
    if (write_p == 0 && content_type == SSL3_RT_HANDSHAKE && len > 0 &&
        static_cast<unsigned char const*>(buf)[0] == SSL3_MT_KEY_UPDATE)
        ++received_key_updates;
}

int connect_socket(options const& o)
{
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        fail(std::string("socket: ") + std::strerror(errno));
    // Before connect, so the window the server sees is small from the start.
    if (::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &o.rcvbuf, sizeof o.rcvbuf) != 0)
        fail(std::string("SO_RCVBUF: ") + std::strerror(errno));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(o.port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
        fail(std::string("connect: ") + std::strerror(errno));
    return fd;
}

void send_key_update(SSL* ssl, int type)
{
    if (SSL_key_update(ssl, type) != 1)
        fail("SSL_key_update");
    // SSL_key_update only schedules the message; a handshake call sends it now.
    if (int ret = SSL_do_handshake(ssl); ret != 1)
        fail("sending KeyUpdate (SSL_get_error " + std::to_string(SSL_get_error(ssl, ret)) +
             ", errno " + std::strerror(errno) + ")");
}

} // namespace

int main(int argc, char** argv)
{
    options const o = parse(argc, argv);

    SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == nullptr)
        fail("SSL_CTX_new");
    SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
    SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
    static unsigned char const alpn[] = {6, 'g', 'o', 'p', 'h', 'e', 'r'};
    SSL_CTX_set_alpn_protos(ctx, alpn, sizeof alpn);
    SSL_CTX_set_msg_callback(ctx, &on_message);

    int fd = connect_socket(o);
    SSL* ssl = SSL_new(ctx);
    if (ssl == nullptr)
        fail("SSL_new");
    SSL_set_fd(ssl, fd);
    SSL_set_tlsext_host_name(ssl, o.servername.c_str());
    if (SSL_connect(ssl) != 1)
        fail("handshake");

    std::string request = o.selector + "\r\n";
    std::size_t written = 0;
    if (SSL_write_ex(ssl, request.data(), request.size(), &written) != 1)
        fail("writing the request");

    EVP_MD_CTX* md = EVP_MD_CTX_new();
    if (md == nullptr || EVP_DigestInit_ex(md, EVP_sha256(), nullptr) != 1)
        fail("sha256");

    int const pairs[4][2] = {
        {SSL_KEY_UPDATE_REQUESTED, SSL_KEY_UPDATE_NOT_REQUESTED},
        {SSL_KEY_UPDATE_NOT_REQUESTED, SSL_KEY_UPDATE_REQUESTED},
        {SSL_KEY_UPDATE_REQUESTED, SSL_KEY_UPDATE_REQUESTED},
        {SSL_KEY_UPDATE_NOT_REQUESTED, SSL_KEY_UPDATE_NOT_REQUESTED},
    };
    int sent = 0;
    int requested = 0;
    std::vector<unsigned char> buf(static_cast<std::size_t>(o.read_size));
    std::uint64_t total = 0;
    // Reads between rounds: enough for the server to move on by several records, so
    // each round finds a different record stalled.
    std::uint64_t const per_round = 256 * 1024;
    int round = 0;
    auto const start = std::chrono::steady_clock::now();
    for (;;) {
        if (round < o.rounds && total >= per_round * static_cast<std::uint64_t>(round)) {
            std::this_thread::sleep_for(std::chrono::milliseconds(o.pause_ms));
            for (int type : pairs[round % 4]) {
                send_key_update(ssl, type);
                ++sent;
                requested += type == SSL_KEY_UPDATE_REQUESTED;
            }
            ++round;
        }
        std::size_t n = 0;
        if (int ret = SSL_read_ex(ssl, buf.data(), buf.size(), &n); ret != 1) {
            int err = SSL_get_error(ssl, ret);
            if (err == SSL_ERROR_ZERO_RETURN)
                break;
            fail("read failed after " + std::to_string(total) + " bytes (SSL_get_error " +
                 std::to_string(err) + ", errno " + std::strerror(errno) + ")");
        }
        EVP_DigestUpdate(md, buf.data(), n);
        total += n;
        if (std::chrono::steady_clock::now() - start > std::chrono::seconds(90))
            fail("gave up after 90 s");
    }
    if (round < o.rounds)
        fail("the reply ended after " + std::to_string(total) + " bytes, before round " +
             std::to_string(round + 1) + " of " + std::to_string(o.rounds));

    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int digest_size = 0;
    EVP_DigestFinal_ex(md, digest, &digest_size);
    std::string hex;
    for (unsigned i = 0; i < digest_size; ++i) {
        char two[3];
        std::snprintf(two, sizeof two, "%02x", digest[i]);
        hex += two;
    }
    std::printf("bytes=%llu sha256=%s sent=%d requested=%d received=%d\n",
                static_cast<unsigned long long>(total), hex.c_str(), sent, requested,
                received_key_updates);
    SSL_shutdown(ssl);
    SSL_free(ssl);
    ::close(fd);
    EVP_MD_CTX_free(md);
    SSL_CTX_free(ctx);
    return 0;
}
