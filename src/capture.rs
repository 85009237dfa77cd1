//! Captured traffic: the exchange data model, events, and the store that owns them.

pub mod decode;
pub mod event;
pub mod exchange;
pub mod store;

pub use exchange::{
    Body, Exchange, ExchangeId, Header, HeaderList, HeaderRef, OptionalMs, RequestRecord,
    ResourceType, ResponseRecord, Timings,
};
