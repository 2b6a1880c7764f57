#include "small_file.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>

namespace got {

namespace {

std::string in_quotes(std::string const& s)
{
    return "\"" + s + "\"";
}

std::string size_text(std::size_t bytes)
{
    constexpr std::size_t mib = std::size_t{1} << 20;
    if (bytes % mib == 0)
        return std::to_string(bytes / mib) + " MiB";
    if (bytes % 1024 == 0)
        return std::to_string(bytes / 1024) + " KiB";
    return std::to_string(bytes) + " bytes";
}

} // namespace

parse_result<std::string> read_small_file(std::string const& path, std::size_t max_size)
{
    using result = parse_result<std::string>;
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec))
        return result::fail(in_quotes(path) + " is a directory, not a file");
    std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "rb"),
                                                         &std::fclose);
    if (!file)
        return result::fail("cannot read " + in_quotes(path) + ": " + std::strerror(errno));
    // One byte more than allowed tells "exactly at the cap" from "over it".
    std::string text(max_size + 1, '\0');
    auto n = std::fread(text.data(), 1, text.size(), file.get());
    if (std::ferror(file.get()))
        return result::fail("cannot read " + in_quotes(path) + ": " + std::strerror(errno));
    if (n > max_size)
        return result::fail(in_quotes(path) + " is larger than " + size_text(max_size));
    text.resize(n);
    return result::ok(std::move(text));
}

} // namespace got
