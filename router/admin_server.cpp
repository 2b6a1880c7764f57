#include "admin_server.hpp"

#include "access_log.hpp"
#include "common/log.hpp"
#include "common/metrics.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

namespace got {

namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;

namespace {

http::response<http::string_body> make_response(http::request<http::string_body> const& req,
                                                admin_hooks const& hooks)
{
    http::response<http::string_body> res;
    res.version(req.version());
    res.keep_alive(req.keep_alive());
    res.set(http::field::server, "got-router");
    auto reply = [&res](http::status status, std::string type, std::string body) {
        res.result(status);
        res.set(http::field::content_type, type);
        res.body() = std::move(body);
    };
    std::string_view target = req.target();
    target = target.substr(0, target.find('?'));
    bool known =
        target == "/metrics" || target == "/healthz" || target == "/readyz" || target == "/config";
    if (!known) {
        reply(http::status::not_found, "text/plain", "not found\n");
    } else if (req.method() != http::verb::get && req.method() != http::verb::head) {
        reply(http::status::method_not_allowed, "text/plain", "method not allowed\n");
        res.set(http::field::allow, "GET, HEAD");
    } else if (target == "/metrics") {
        reply(http::status::ok, "text/plain; version=0.0.4; charset=utf-8",
              metrics::get().render());
    } else if (target == "/healthz") {
        reply(http::status::ok, "text/plain", "ok\n");
    } else if (target == "/readyz") {
        bool ready = hooks.ready();
        reply(ready ? http::status::ok : http::status::service_unavailable, "text/plain",
              ready ? "ready\n" : "not ready\n");
    } else {
        reply(http::status::ok, "application/json", hooks.config_json());
    }
    res.prepare_payload();
    if (req.method() == http::verb::head)
        res.body().clear();
    return res;
}

// The session and the accept loop own what they use: a reload that moves the endpoint
// destroys the admin_server while they may still be suspended.
awaitable<void> admin_session(beast::tcp_stream stream, std::shared_ptr<admin_hooks const> hooks)
{
    beast::flat_buffer buffer(8192);
    for (int i = 0; i < 100; ++i) {
        http::request_parser<http::string_body> parser;
        parser.header_limit(8192);
        parser.body_limit(4096);
        stream.expires_after(10s);
        auto [ec, n] = co_await http::async_read(stream, buffer, parser, use_nothrow);
        if (ec == http::error::end_of_stream || ec == net::error::eof)
            break;
        if (ec) {
            if (ec != beast::error::timeout && ec != net::error::connection_reset) {
                http::response<http::string_body> bad{http::status::bad_request, 11};
                bad.set(http::field::content_type, "text/plain");
                bad.body() = "bad request: " + ec.message() + "\n";
                bad.keep_alive(false);
                bad.prepare_payload();
                co_await http::async_write(stream, bad, use_nothrow);
            }
            break;
        }
        auto res = make_response(parser.get(), *hooks);
        bool keep = res.keep_alive();
        auto [wec, wn] = co_await http::async_write(stream, res, use_nothrow);
        if (wec || !keep)
            break;
    }
    boost::system::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
}

awaitable<void> admin_accept(std::shared_ptr<tcp::acceptor> acceptor,
                             std::shared_ptr<admin_hooks const> hooks)
{
    for (;;) {
        auto [ec, socket] = co_await acceptor->async_accept(use_nothrow);
        if (ec) {
            if (!acceptor->is_open())
                co_return;
            log::warning("admin accept: " + ec.message());
            continue;
        }
        net::co_spawn(acceptor->get_executor(),
                      admin_session(beast::tcp_stream(std::move(socket)), hooks), net::detached);
    }
}

} // namespace

admin_server::admin_server(net::io_context& ctx, admin_hooks hooks)
    : ctx_(ctx)
    , hooks_(std::make_shared<admin_hooks const>(std::move(hooks)))
{}

bool admin_server::open(endpoint const& address, std::string& error)
{
    boost::system::error_code ec;
    tcp::resolver resolver(ctx_);
    auto results = resolver.resolve(address.host, std::to_string(address.port),
                                    tcp::resolver::numeric_service, ec);
    if (ec || results.empty()) {
        error = "admin.address " + address.to_string() + ": " + (ec ? ec.message() : "no address");
        return false;
    }
    tcp::endpoint ep = results.begin()->endpoint();
    acceptor_ = std::make_shared<tcp::acceptor>(ctx_);
    acceptor_->open(ep.protocol(), ec);
    if (!ec)
        acceptor_->set_option(net::socket_base::reuse_address(true), ec);
    if (!ec)
        acceptor_->bind(ep, ec);
    if (!ec)
        acceptor_->listen(net::socket_base::max_listen_connections, ec);
    if (ec) {
        error = "cannot listen on admin.address " + address.to_string() + ": " + ec.message();
        acceptor_.reset();
        return false;
    }
    bound_ = endpoint_text(acceptor_->local_endpoint());
    log::info("admin endpoint on http://" + bound_ + " (/metrics, /healthz, /readyz, /config)");
    return true;
}

void admin_server::start()
{
    if (acceptor_)
        net::co_spawn(ctx_, admin_accept(acceptor_, hooks_), net::detached);
}

void admin_server::close()
{
    if (acceptor_) {
        boost::system::error_code ec;
        acceptor_->close(ec);
    }
}

} // namespace got
