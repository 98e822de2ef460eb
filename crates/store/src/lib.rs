//! A node's persistent data (being written).
