//! `corscope demo`: local origins with good and broken CORS set-ups, so a newcomer sees
//! corscope's verdicts within a minute of cloning it.

pub mod scenarios;
pub mod server;
