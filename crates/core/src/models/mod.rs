//! The model manager: which weights exist ([`manifest`]), where they are installed and whether
//! they are intact ([`store`]), and how they are fetched ([`fetch`]; why not, [`error`]).

pub mod best;
pub mod choice;
pub mod error;
pub mod fetch;
pub mod http;
pub mod hub;
pub mod import;
pub mod manifest;
pub mod remote_settings;
pub mod store;

pub use manifest::{Manifest, ModelEntry, Source};
pub use store::{ModelStore, RecordError, StoreError};
