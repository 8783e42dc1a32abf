//! The request plan: byte-exact URLs and bodies of every fetch a verification makes.
