//! The CORS engine: pure functions over captured exchanges. No async, no I/O, no clock:
//! time comes in as data.

pub mod profile;
