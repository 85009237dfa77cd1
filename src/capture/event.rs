//! Things worth telling the user that are not exchanges: a client that refused corscope's
//! certificate, a malformed connection, a warning at start. Plain data, kept by the store.

use chrono::{DateTime, Utc};
use serde::Serialize;

/// What kind of event happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A client's TLS handshake with corscope failed (usually: the browser does not trust
    /// corscope's CA yet).
    ClientTlsFailed,
    /// A client connection ended with a protocol error outside any exchange.
    ConnectionError,
    /// Something the user should know about the proxy itself.
    Warning,
    /// A client sent a wrong or malformed `Proxy-Authorization` (`--proxy-auth`).
    ProxyAuthFailed,
    /// The connection cap was reached: new connections get a 503 until some close.
    ConnectionLimit,
}

/// One event, with the host it concerns when there is one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Event {
    pub at: DateTime<Utc>,
    pub kind: EventKind,
    /// Host the event concerns (the CONNECT target or TLS server name), when known.
    pub host: Option<String>,
    /// One line for the user, including a hint where one helps.
    pub message: String,
    /// Client connection the event happened on, when it happened on one.
    pub connection_id: Option<u64>,
}

impl Event {
    /// An event stamped now.
    pub fn now(kind: EventKind, host: Option<String>, message: impl Into<String>) -> Self {
        Self {
            at: Utc::now(),
            kind,
            host,
            message: message.into(),
            connection_id: None,
        }
    }

    /// The same event, tagged with the client connection it happened on.
    pub fn on_connection(mut self, connection_id: u64) -> Self {
        self.connection_id = Some(connection_id);
        self
    }
}
