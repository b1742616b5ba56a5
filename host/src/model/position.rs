//! Where a restart resumes in one lane of a source.

use serde::{Deserialize, Serialize};

/// A resumable position in one partition of a source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    /// Which file (or partition) the offset is in.
    pub identity: String,
    /// Bytes of the file's head covered by `head_hash`.
    pub head_len: u64,
    /// Fingerprint of the file's first `head_len` bytes.
    pub head_hash: u64,
    /// Where to resume: just past the last record processed.
    pub offset: u64,
    /// Lines before `offset` (files), so rejects name their line number
    /// after a restart too; 0 where unknown (checkpoints written before
    /// it was recorded, Kafka).
    #[serde(default)]
    pub line: u64,
}
