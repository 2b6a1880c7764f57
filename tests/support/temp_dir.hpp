// A fresh directory under $TMPDIR (mkdtemp) for one test, removed with everything in it
// when the object goes away.
#pragma once

#include <filesystem>
#include <string_view>

namespace got::test {

class temp_dir
{
public:
    temp_dir();
    ~temp_dir();
    temp_dir(temp_dir const&) = delete;
    temp_dir& operator=(temp_dir const&) = delete;

    std::filesystem::path const& path() const { return path_; }
    // Writes `text` to `name` inside the directory and returns its full path.
    std::filesystem::path write(std::string_view name, std::string_view text) const;

private:
    std::filesystem::path path_;
};

} // namespace got::test
