//! Versioned schema migrations of the SQLite store (to be written).
