//! Captured traffic: the exchange data model and (later) the store that owns it.

pub mod decode;
pub mod exchange;

pub use exchange::{
    Body, Exchange, ExchangeId, Header, HeaderList, RequestRecord, ResponseRecord, Timings,
};
