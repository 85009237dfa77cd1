//! HAR 1.2: the serde model (read and write) and import into [`crate::capture::Exchange`]s.

pub mod import;
pub mod model;
