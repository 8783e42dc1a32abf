//! Replay source: answers fetches from a loaded capture.
