//! The live terminal UI: a view over the capture store and the CORS verdicts. Nothing
//! about CORS is decided here; rows and detail lines are built from the engine's output.

pub mod action;
pub mod app;
pub mod curl;
pub mod detail;
pub mod feed;
pub mod filter;
pub mod keymap;
pub mod model;
pub mod rows;
pub mod run;
pub mod terminal;
pub mod theme;
pub mod view;
