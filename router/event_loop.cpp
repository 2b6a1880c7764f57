#include "event_loop.hpp"

#include <cerrno>
#include <cstdint>
#include <sys/eventfd.h>
#include <system_error>
#include <unistd.h>

namespace got {

namespace {

int open_eventfd()
{
    int fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (fd < 0)
        throw std::system_error(errno, std::generic_category(), "eventfd");
    return fd;
}

} // namespace

loop_mailbox::loop_mailbox(net::io_context& loop)
    : event_(loop, open_eventfd())
{
    wait();
}

void loop_mailbox::send(std::function<void()> fn)
{
    {
        std::lock_guard lock(mutex_);
        pending_.push_back(std::move(fn));
    }
    std::uint64_t const one = 1;
    // The descriptor is only read on the loop's thread; writing it from here is a
    // system call on a descriptor that stays open while the mailbox exists.
    while (::write(event_.native_handle(), &one, sizeof one) < 0) {
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN)
            break; // the counter is at its maximum: the loop has a wake-up coming anyway
        throw std::system_error(errno, std::generic_category(), "eventfd write");
    }
}

void loop_mailbox::wait()
{
    event_.async_wait(
        net::posix::stream_descriptor::wait_read, [this](boost::system::error_code ec) {
            if (ec)
                return; // the mailbox is going away with its loop
            // Reset the counter before taking the queue: a function sent after this read
            // writes again, and the wait armed below sees it.
            std::uint64_t count = 0;
            [[maybe_unused]] auto n = ::read(event_.native_handle(), &count, sizeof count);
            std::vector<std::function<void()>> batch;
            {
                std::lock_guard lock(mutex_);
                batch.swap(pending_);
            }
            wait();
            for (auto& fn : batch)
                fn();
        });
}

} // namespace got
