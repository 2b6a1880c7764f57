// Fuzz target: the YAML config loader (common/config_loader.hpp).
//
// Bytes in, a validated config or a list of problems out. Checks, besides the sanitizers:
// - no exception escapes, and none reaches the loader's last-resort handler ("internal
//   error while loading"): every input gets a proper message;
// - a failed load names at least one problem, attributed to the file with a sane position;
// - bounded memory: one input may hold at most `heap_budget` bytes of heap at a time. This
//   is checked on every allocation, so a runaway parser fails here within milliseconds
//   with its allocation stack, instead of at libFuzzer's -rss_limit_mb, whose heap report
//   walks every chunk and can take minutes.
#include "common/config_loader.hpp"

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <sanitizer/allocator_interface.h>
#include <string_view>
#include <unistd.h>
#include <variant>

namespace {

[[noreturn]] void fail(char const* what, int line)
{
    std::fprintf(stderr, "fuzz_config_loader.cpp:%d: invariant failed: %s\n", line, what);
    std::abort();
}

#define FUZZ_CHECK(cond) ((cond) ? void() : fail(#cond, __LINE__))

// For inputs up to -max_len=65536 (scripts/fuzz.sh), the loader needs a few MiB. Under
// ASan the process's RSS is about twice the live heap plus the quarantine (256 MiB), so
// this must stay well below the 512 MiB -rss_limit_mb to be the check that fires.
constexpr std::size_t heap_budget = std::size_t{64} << 20;
std::atomic<bool> armed{false};
std::atomic<std::size_t> live{0};

void on_malloc(void const volatile*, std::size_t size)
{
    if (!armed.load(std::memory_order_relaxed))
        return;
    if (live.fetch_add(size, std::memory_order_relaxed) + size > heap_budget) {
        armed = false;
        // No stdio here: it may allocate, and we are inside the allocator.
        static constexpr char message[] =
            "fuzz_config_loader: one input holds more than 64 MiB of heap\n";
        (void)!::write(2, message, sizeof(message) - 1);
        std::abort();
    }
}

void on_free(void const volatile* p)
{
    if (!p || !armed.load(std::memory_order_relaxed))
        return;
    auto size = __sanitizer_get_allocated_size(p);
    auto now = live.load(std::memory_order_relaxed);
    live.store(now > size ? now - size : 0, std::memory_order_relaxed);
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***)
{
    __sanitizer_install_malloc_and_free_hooks(on_malloc, on_free);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size)
{
    std::string_view text(reinterpret_cast<char const*>(data), size);
    live = 0;
    armed = true;
    auto result = got::load_config_text(text, "fuzz.yaml", "/nonexistent");
    armed = false;
    if (auto const* problems = std::get_if<std::vector<got::config_problem>>(&result)) {
        FUZZ_CHECK(!problems->empty());
        for (auto const& p : *problems) {
            FUZZ_CHECK(p.file == "fuzz.yaml");
            FUZZ_CHECK(p.line >= 0 && p.column >= 0);
            FUZZ_CHECK(!p.message.empty());
            if (p.message.starts_with("internal error")) {
                std::fprintf(stderr, "%s\n", p.to_string().c_str());
                FUZZ_CHECK(!"the loader let an exception through to its last resort");
            }
            FUZZ_CHECK(!p.to_string().empty());
        }
    }
    return 0;
}
