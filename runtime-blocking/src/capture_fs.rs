//! Loading and saving capture directories with std::fs.
