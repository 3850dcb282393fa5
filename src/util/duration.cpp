// Human durations in config ("15m") to microseconds and to PostgreSQL interval literals.
#include <cctype>
#include <cstdint>

#include "tidemark/util.hpp"

namespace tidemark {

std::optional<int64_t> parse_duration_us(const std::string& text) {
  size_t i = 0;
  while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
  size_t digits_start = i;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
  if (i == digits_start || i - digits_start > 12) return std::nullopt;
  int64_t n = std::stoll(text.substr(digits_start, i - digits_start));
  while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
  std::string unit = text.substr(i);
  while (!unit.empty() && std::isspace(static_cast<unsigned char>(unit.back()))) unit.pop_back();
  int64_t mult;
  if (unit == "us") mult = 1;
  else if (unit == "ms") mult = 1000;
  else if (unit == "s" || unit == "sec" || unit == "seconds") mult = 1000000;
  else if (unit == "m" || unit == "min" || unit == "minutes") mult = 60LL * 1000000;
  else if (unit == "h" || unit == "hours") mult = 3600LL * 1000000;
  else if (unit == "d" || unit == "days") mult = 86400LL * 1000000;
  else return std::nullopt;
  if (n > INT64_MAX / mult) return std::nullopt;  // beyond 64-bit microseconds
  return n * mult;
}

std::string format_interval_us(int64_t us) {
  if (us % 1000000 == 0) return std::to_string(us / 1000000) + " seconds";
  return std::to_string(us) + " microseconds";
}

}  // namespace tidemark
