// For src/pg's own files: the seam header with libpqxx itself. Nothing outside src/pg
// includes this (scripts/check_boundary.sh).
#pragma once
#include <pqxx/pqxx>

#include "pg/pg.hpp"
