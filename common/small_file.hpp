// Reading a whole small file (a config, a PEM) into memory, refusing anything larger than a
// cap before it is parsed. Messages name the file: `cannot read "x": No such file or directory`.
#pragma once

#include "parse_result.hpp"

#include <cstddef>
#include <string>

namespace got {

parse_result<std::string> read_small_file(std::string const& path, std::size_t max_size);

} // namespace got
