// Strategy `cdc`: wal2json records (format-version 2) and the pipeline's position.
#include <nlohmann/json.hpp>

#include "tidemark/cdc.hpp"
#include "tidemark/errors.hpp"

namespace tidemark::cdc {
namespace {

using json = nlohmann::json;

// SAX over one record, so numbers keep the text wal2json wrote (numeric(38,10) stays exact).
class Reader final : public nlohmann::json_sax<json> {
 public:
  explicit Reader(Change& c) : c_(c) {}

  bool null() override { return scalar(std::nullopt); }
  bool boolean(bool v) override { return scalar(std::string(v ? "true" : "false")); }
  bool number_integer(number_integer_t v) override { return scalar(std::to_string(v)); }
  bool number_unsigned(number_unsigned_t v) override { return scalar(std::to_string(v)); }
  bool number_float(number_float_t, const string_t& text) override { return scalar(text); }
  bool string(string_t& v) override { return scalar(v); }
  bool binary(binary_t&) override { return fail("binary value"); }
  bool start_object(std::size_t) override {
    ++depth_;
    if (depth_ == 3) entry_ = {};
    return depth_ <= 3 || fail("nested object");
  }
  bool end_object() override {
    if (depth_ == 3 && list_) list_->push_back(entry_);
    --depth_;
    return true;
  }
  bool start_array(std::size_t) override {
    ++depth_;
    if (depth_ != 2) return fail("nested array");
    list_ = key_ == "columns" ? &c_.columns : key_ == "identity" ? &c_.identity : nullptr;
    return true;
  }
  bool end_array() override {
    --depth_;
    list_ = nullptr;
    return true;
  }
  bool key(string_t& k) override {
    key_ = k;
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) override {
    error_ = e.what();
    return false;
  }
  const std::string& error() const { return error_; }

 private:
  bool fail(const char* what) {
    error_ = std::string("unexpected ") + what;
    return false;
  }
  bool scalar(std::optional<std::string> v) {
    if (depth_ == 3) {
      if (key_ == "name" && v) entry_.first = *v;
      if (key_ == "value") entry_.second = std::move(v);
      return true;
    }
    if (depth_ != 1 || !v) return true;
    if (key_ == "action") c_.action = v->empty() ? '?' : (*v)[0];
    else if (key_ == "xid") c_.xid = std::stoll(*v);
    else if (key_ == "schema") c_.schema = *v;
    else if (key_ == "table") c_.table = *v;
    else if (key_ == "lsn" || key_ == "nextlsn") {
      auto lsn = parse_lsn(*v);
      if (!lsn) return fail("LSN");
      (key_ == "lsn" ? c_.lsn : c_.next_lsn) = *lsn;
    }
    return true;
  }

  Change& c_;
  int depth_ = 0;
  std::string key_, error_;
  Values* list_ = nullptr;
  std::pair<std::string, std::optional<std::string>> entry_;
};

}  // namespace

std::string slot_name(const std::string& pipeline, const std::string& configured) {
  if (!configured.empty()) return configured;
  std::string s = "tidemark_";
  for (char ch : pipeline) s += std::isalnum(static_cast<unsigned char>(ch)) ? static_cast<char>(std::tolower(ch)) : '_';
  return s.substr(0, 63);
}

std::optional<uint64_t> parse_lsn(std::string_view text) {
  const auto slash = text.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash > 8 || text.size() - slash - 1 == 0 ||
      text.size() - slash - 1 > 8)
    return std::nullopt;
  uint64_t hi = 0, lo = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    if (i == slash) continue;
    const char ch = text[i];
    int d = ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10 : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
    if (d < 0) return std::nullopt;
    uint64_t& part = i < slash ? hi : lo;
    part = part * 16 + static_cast<uint64_t>(d);
  }
  return hi << 32 | lo;
}

std::string lsn_text(uint64_t lsn) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%X/%X", static_cast<unsigned>(lsn >> 32), static_cast<unsigned>(lsn & 0xffffffffu));
  return buf;
}

Change parse_change(std::string_view text) {
  Change c;
  Reader r(c);
  const bool ok = json::sax_parse(text.begin(), text.end(), &r);
  if (!ok || c.action == 0)
    throw RunError("cannot read a wal2json change (" + (r.error().empty() ? std::string("no action") : r.error()) +
                   "): " + std::string(text.substr(0, 200)));
  return c;
}

std::string copy_unescape(std::string_view f) {
  std::string out;
  out.reserve(f.size());
  for (size_t i = 0; i < f.size(); ++i) {
    if (f[i] != '\\' || i + 1 == f.size()) {
      out += f[i];
      continue;
    }
    const char n = f[++i];
    switch (n) {
      case 'n': out += '\n'; break;
      case 't': out += '\t'; break;
      case 'r': out += '\r'; break;
      case 'b': out += '\b'; break;
      case 'f': out += '\f'; break;
      case 'v': out += '\v'; break;
      default:
        if (n >= '0' && n <= '7') {  // \NNN octal
          int v = n - '0';
          for (int k = 0; k < 2 && i + 1 < f.size() && f[i + 1] >= '0' && f[i + 1] <= '7'; ++k) v = v * 8 + (f[++i] - '0');
          out += static_cast<char>(v);
        } else {
          out += n;  // \\ and any other escaped character
        }
    }
  }
  return out;
}

Watermark to_watermark(const Position& p) {
  Watermark w;
  w.columns = {"lsn", "xid", "applied"};
  Tuple t{lsn_text(p.lsn)};
  if (p.xid) {
    t.push_back(std::to_string(*p.xid));
    t.push_back(std::to_string(p.applied));
  }
  w.safe = t;
  w.high = t;
  return w;
}

Position from_watermark(const Watermark& w) {
  Position p;
  if (!w.safe) return p;
  const Tuple& t = *w.safe;
  auto lsn = parse_lsn(t[0]);
  if (w.columns.empty() || w.columns[0] != "lsn" || !lsn || (t.size() != 1 && t.size() != 3))
    throw RunError("the stored watermark is not a CDC position (" + tuple_text(w.safe) +
                   "); run once with --full-refresh to start over");
  p.lsn = *lsn;
  if (t.size() == 3) {
    p.xid = std::stoll(t[1]);
    p.applied = std::stoll(t[2]);
  }
  return p;
}

}  // namespace tidemark::cdc
