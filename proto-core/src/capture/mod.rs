//! Capture format: recorded provider sessions (manifest, numbered exchanges). Parsing and writing only; reading files is the runtime's job.
