//! The config in force: the file's, with the admin API's changes laid over it. An immutable
//! snapshot swapped whole, so a reader sees one version or the next, never half of a change.

use std::sync::Arc;

use arc_swap::ArcSwap;

use super::Config;

/// The current config.
#[derive(Debug)]
pub struct LiveConfig(ArcSwap<Config>);

impl LiveConfig {
    /// Starts with `config`.
    pub fn new(config: Config) -> LiveConfig {
        LiveConfig(ArcSwap::from_pointee(config))
    }

    /// The config now (one consistent version).
    pub fn current(&self) -> Arc<Config> {
        self.0.load_full()
    }

    /// Puts `config` in force.
    pub fn replace(&self, config: Config) {
        self.0.store(Arc::new(config));
    }
}
