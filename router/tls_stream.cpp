#include "tls_stream.hpp"

#include <boost/asio/error.hpp>
#include <boost/asio/ssl/error.hpp>
#include <cerrno>
#include <cstring>
#include <new>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <sys/socket.h>

namespace got {

namespace {

boost::system::error_code ssl_error_code(unsigned long code)
{
    // In OpenSSL 3 an unexpected TCP EOF is a TLS error; Asio (and our callers) call
    // it a truncated stream.
    if (ERR_GET_REASON(code) == SSL_R_UNEXPECTED_EOF_WHILE_READING)
        return net::ssl::error::stream_truncated;
    return {static_cast<int>(code), net::error::get_ssl_category()};
}

bool would_block(int e)
{
    return e == EAGAIN || e == EWOULDBLOCK || e == EINTR;
}

} // namespace

BIO_METHOD const* tls_stream::bio_method()
{
    static BIO_METHOD const* const method = [] {
        BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "got-socket");
        if (m == nullptr)
            return static_cast<BIO_METHOD*>(nullptr);
        BIO_meth_set_read(m, &tls_stream::bio_read);
        BIO_meth_set_write(m, &tls_stream::bio_write);
        BIO_meth_set_ctrl(m, &tls_stream::bio_ctrl);
        return m;
    }();
    return method;
}

// Reads the classifier's bytes first, then the socket. A closed socket reads as an
// error without touching its old descriptor number.
int tls_stream::bio_read(BIO* bio, char* data, int size)
{
    auto* self = static_cast<tls_stream*>(BIO_get_data(bio));
    BIO_clear_retry_flags(bio);
    if (size <= 0)
        return 0;
    if (self->prefix_) {
        auto n = std::min(static_cast<std::size_t>(size), self->prefix_size_ - self->prefix_used_);
        std::memcpy(data, self->prefix_.get() + self->prefix_used_, n);
        self->prefix_used_ += n;
        if (self->prefix_used_ == self->prefix_size_)
            self->prefix_.reset();
        return static_cast<int>(n);
    }
    if (!self->socket_.is_open()) {
        errno = EBADF;
        return -1;
    }
    auto n =
        ::recv(self->socket_.native_handle(), data, static_cast<std::size_t>(size), MSG_DONTWAIT);
    if (n > 0)
        return static_cast<int>(n);
    if (n == 0) {
        self->eof_ = true;
        return 0;
    }
    if (would_block(errno))
        BIO_set_retry_read(bio);
    return -1;
}

int tls_stream::bio_write(BIO* bio, char const* data, int size)
{
    auto* self = static_cast<tls_stream*>(BIO_get_data(bio));
    BIO_clear_retry_flags(bio);
    if (!self->socket_.is_open()) {
        errno = EBADF;
        return -1;
    }
    auto n = ::send(self->socket_.native_handle(), data, static_cast<std::size_t>(size),
                    MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n >= 0)
        return static_cast<int>(n);
    if (would_block(errno))
        BIO_set_retry_write(bio);
    return -1;
}

long tls_stream::bio_ctrl(BIO* bio, int cmd, long, void*)
{
    switch (cmd) {
    case BIO_CTRL_FLUSH:
        return 1; // nothing buffered here
    case BIO_CTRL_EOF:
        return static_cast<tls_stream*>(BIO_get_data(bio))->eof_ ? 1 : 0;
    default:
        return 0; // no kTLS, no pending bytes, no push/pop
    }
}

tls_stream::tls_stream(net::ip::tcp::socket socket, SSL_CTX* ctx)
    : socket_(std::move(socket))
{
    // Whatever the descriptor's mode, the BIO never blocks: MSG_DONTWAIT on each call
    // instead of an ioctl per connection.
    auto const* method = bio_method();
    if (method == nullptr)
        throw std::bad_alloc();
    ssl_ = SSL_new(ctx);
    if (ssl_ == nullptr)
        throw std::bad_alloc();
    BIO* bio = BIO_new(method);
    if (bio == nullptr) {
        SSL_free(ssl_);
        throw std::bad_alloc();
    }
    BIO_set_data(bio, this);
    BIO_set_init(bio, 1);
    SSL_set_bio(ssl_, bio, bio); // the SSL owns the BIO
    SSL_set_mode(ssl_, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                           SSL_MODE_RELEASE_BUFFERS);
    SSL_set_accept_state(ssl_);
}

tls_stream::~tls_stream()
{
    SSL_free(ssl_);
}

// One try of the SSL call. `done` with `ec` clear is success.
tls_stream::step tls_stream::attempt(operation what, void* data, std::size_t size, std::size_t& n,
                                     boost::system::error_code& ec)
{
    n = 0;
    if (!socket_.is_open()) {
        ec = net::error::operation_aborted;
        return step::done;
    }
    if (size == 0 && (what == operation::read || what == operation::write))
        return step::done;
    ERR_clear_error();
    errno = 0;
    int ret = 0;
    bool ok = false;
    switch (what) {
    case operation::handshake:
        ret = SSL_do_handshake(ssl_);
        ok = ret == 1;
        break;
    case operation::read:
        ret = SSL_read_ex(ssl_, data, size, &n);
        ok = ret == 1;
        break;
    case operation::write:
        ret = SSL_write_ex(ssl_, data, size, &n);
        ok = ret == 1;
        break;
    case operation::shutdown:
        ret = SSL_shutdown(ssl_);
        ok = ret >= 0; // 0: ours sent, the peer's not awaited
        break;
    }
    int const sys = errno;
    if (ok)
        return step::done;
    n = 0;
    int const err = SSL_get_error(ssl_, ret);
    switch (err) {
    case SSL_ERROR_WANT_READ:
        return step::want_read;
    case SSL_ERROR_WANT_WRITE:
        return step::want_write;
    case SSL_ERROR_ZERO_RETURN:
        ec = net::error::eof;
        break;
    case SSL_ERROR_SYSCALL:
        if (auto code = ERR_get_error(); code != 0)
            ec = ssl_error_code(code);
        else if (sys == 0)
            ec = net::ssl::error::stream_truncated; // TCP EOF, no close_notify
        else
            ec = {sys, boost::system::system_category()};
        break;
    case SSL_ERROR_SSL:
        ec = ssl_error_code(ERR_get_error());
        break;
    default:
        ec = net::ssl::error::unexpected_result;
        break;
    }
    ERR_clear_error();
    if (!ec)
        ec = net::ssl::error::unexpected_result;
    return step::done;
}

awaitable<tls_stream::result> tls_stream::run(operation what, void* data, std::size_t size)
{
    for (;;) {
        std::size_t n = 0;
        boost::system::error_code ec;
        step s = attempt(what, data, size, n, ec);
        if (s == step::done)
            co_return result{ec, n};
        auto direction = s == step::want_read ? net::ip::tcp::socket::wait_read
                                              : net::ip::tcp::socket::wait_write;
        auto [wec] = co_await socket_.async_wait(direction, use_nothrow);
        if (wec)
            co_return result{wec, 0};
    }
}

awaitable<boost::system::error_code> tls_stream::async_handshake(net::const_buffer already_read)
{
    if (already_read.size() > 0) {
        prefix_.reset(new unsigned char[already_read.size()]);
        std::memcpy(prefix_.get(), already_read.data(), already_read.size());
        prefix_size_ = already_read.size();
        prefix_used_ = 0;
    }
    // Bytes left in the prefix (none in practice) are read first by later reads.
    auto [ec, n] = co_await run(operation::handshake, nullptr, 0);
    co_return ec;
}

awaitable<tls_stream::result> tls_stream::async_write(net::const_buffer buffer)
{
    std::size_t total = 0;
    while (buffer.size() > 0) {
        auto [ec, n] = co_await async_write_some(buffer);
        total += n;
        buffer += n;
        if (ec)
            co_return result{ec, total};
    }
    co_return result{boost::system::error_code{}, total};
}

awaitable<boost::system::error_code> tls_stream::async_shutdown()
{
    auto [ec, n] = co_await run(operation::shutdown, nullptr, 0);
    co_return ec;
}

} // namespace got
