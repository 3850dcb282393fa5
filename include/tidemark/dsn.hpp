// Connection strings (libpq key=value DSNs and postgresql:// URIs), checked before anything
// connects: parsed by libpq's own parser (PQconninfoParse, which does no I/O) and held to the
// value rules libpq applies only when it connects (port numbers, sslmode, …). Also the secrets
// a DSN holds, so that no message ever repeats them (docs/operations.md#connection-errors).
#pragma once
#include <optional>
#include <string>
#include <vector>

namespace tidemark {

// Why libpq would refuse `dsn`, or nullopt when it would accept it. The message never quotes a
// part of a DSN that holds a password: libpq's own parse errors quote fragments of the string
// ("missing "=" after "horse""), so for such a DSN they are replaced by what to check.
std::optional<std::string> dsn_problem(const std::string& dsn);

// Whether the text of `dsn` may hold a secret: a password option (in any spelling, parsed or
// not) or a URI with user information (`user:secret@`).
bool dsn_may_hold_secret(const std::string& dsn);

// The password and sslpassword values of `dsn` (none when it does not parse).
std::vector<std::string> dsn_secrets(const std::string& dsn);

// `text` without any of `secrets`: each secret, and each run of 3 or more letters and digits
// inside it, becomes ***; then redact_text. For messages of a connection whose DSN is known.
std::string scrub_secrets(const std::string& text, const std::vector<std::string>& secrets);

}  // namespace tidemark
