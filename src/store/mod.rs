//! Persistence in sled: a fixed set of trees, sortable keys, one versioned codec, atomic commits.
