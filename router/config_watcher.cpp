#include "config_watcher.hpp"

#include "common/log.hpp"

#include <filesystem>
#include <sys/inotify.h>
#include <unistd.h>

namespace got {

using namespace std::chrono_literals;

config_watcher::config_watcher(net::io_context& ctx, std::function<void()> on_change)
    : ctx_(ctx)
    , on_change_(std::move(on_change))
    , debounce_(ctx)
{
    fd_ = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (fd_ < 0) {
        log::warning("inotify unavailable; reload with SIGHUP");
        return;
    }
    stream_ = std::make_unique<net::posix::stream_descriptor>(ctx_, fd_);
}

config_watcher::~config_watcher() = default; // the stream_descriptor closes fd_

void config_watcher::watch(std::vector<std::string> const& files)
{
    if (!stream_)
        return;
    for (auto const& [wd, dir] : dirs_)
        ::inotify_rm_watch(fd_, wd);
    dirs_.clear();
    names_.clear();
    for (auto const& f : files) {
        std::filesystem::path p = std::filesystem::absolute(f);
        std::string dir = p.parent_path().string();
        names_[dir].insert(p.filename().string());
    }
    for (auto const& [dir, names] : names_) {
        int wd = ::inotify_add_watch(
            fd_, dir.c_str(), IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_ATTRIB);
        if (wd < 0) {
            log::warning("cannot watch " + dir + " for changes; reload with SIGHUP");
            continue;
        }
        dirs_[wd] = dir;
    }
}

void config_watcher::start()
{
    if (stream_)
        read_events();
}

void config_watcher::read_events()
{
    stream_->async_read_some(
        net::buffer(buffer_), [this](boost::system::error_code ec, std::size_t n) {
            if (ec)
                return; // closed at shutdown
            bool relevant = false;
            for (std::size_t off = 0; off + sizeof(inotify_event) <= n;) {
                auto const* ev = reinterpret_cast<inotify_event const*>(buffer_.data() + off);
                std::string name = ev->len ? std::string(ev->name) : std::string();
                auto dir = dirs_.find(ev->wd);
                if (dir != dirs_.end()) {
                    auto const& names = names_[dir->second];
                    // `..data` is how Kubernetes swaps a ConfigMap or Secret volume.
                    if (names.count(name) || name == "..data")
                        relevant = true;
                }
                off += sizeof(inotify_event) + ev->len;
            }
            if (relevant)
                changed();
            read_events();
        });
}

void config_watcher::changed()
{
    // Editors and certbot write in several steps: wait for them to settle.
    debounce_.expires_after(300ms);
    debounce_.async_wait([this](boost::system::error_code ec) {
        if (!ec)
            on_change_();
    });
}

} // namespace got
