//! Browser profiles: where Chrome, Firefox and the Fetch standard disagree.

use serde::{Deserialize, Serialize};

/// Which browser's behaviour the verdicts model.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// Current Chromium / Chrome (the default: users debug real browsers).
    #[default]
    Chrome,
    /// Firefox.
    Firefox,
    /// The WHATWG Fetch standard to the letter.
    Spec,
}
