//! dstack app compose: hash binding input and container image references.
