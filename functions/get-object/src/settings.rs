//! get-object's settings: it has none of its own; the runtime's
//! (`openfaas_runtime::CONFIG_NAMES`) and the store's (`greyfaas_store::config::NAMES`)
//! are all it reads. Listed so every function answers the same question the same way.

/// Every environment name get-object itself reads.
pub const NAMES: &[&str] = &[];
