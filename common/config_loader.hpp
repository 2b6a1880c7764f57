// Loading and validating a got-router YAML config.
//
// `load_config` reads the whole file, checks every rule it knows, and returns either
// a complete `config` or every problem it found (never just the first). Each problem
// names the file, the 1-based line and column, and the key path (`routes[2].backends[0]`).
// It never throws: YAML errors, oversized input and unreadable files are problems too.
#pragma once

#include "config.hpp"

#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace got {

struct config_problem
{
    std::string file;
    int line = 0;    // 1-based; 0 when the problem has no position (missing file)
    int column = 0;  // 1-based
    std::string key; // key path, e.g. `routes[2].backends[0]`; may be empty
    std::string message;

    // `file:line:column: key: message`, the form `got-router -t` prints.
    std::string to_string() const;
};

using config_result = std::variant<config, std::vector<config_problem>>;

// Load from a file on disk.
config_result load_config(std::string const& path);

// Load from text already in memory; `source_name` is used in messages, and relative
// certificate paths are resolved against `base_dir`.
config_result load_config_text(std::string_view text, std::string const& source_name,
                               std::string const& base_dir);

} // namespace got
