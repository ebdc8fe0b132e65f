// Package db opens the vault's metadata database and keeps its schema current.
//
// Two engines, one set of SQL files: SQLite (modernc.org/sqlite, pure Go) for a file path, and
// PostgreSQL (pgx/v5) for a postgres:// or postgresql:// URL. The SQL in migrations/ is written in
// the subset both engines accept (TEXT, BIGINT, DOUBLE PRECISION; no auto-increment, no booleans,
// no NULL timestamps: 0 means none); the only dialect difference at run time is placeholders, which
// callers write as ? and Rebind turns into $1, $2, ... for PostgreSQL.
//
// Migrations are versioned (NNN_name.sql), forward-only, applied in order inside one transaction
// each, and recorded in the table schema_migrations. Each transaction takes a migration lock
// first (a PostgreSQL advisory lock; SQLite's write lock), so that replicas starting together apply
// each migration once. A database whose recorded version is newer than this binary knows is
// refused.
package db
