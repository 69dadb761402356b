//! The group-commit writer thread (to be written).
