//! HAR 1.2: the serde model (read and write), import into [`crate::capture::Exchange`]s, and
//! export of a session with verdicts and redaction.

pub mod export;
pub mod import;
pub mod model;
