//! Fencing: a lane's checkpoint is written only by the instance holding
//! its partition's token, and only once per sequence number.

/// A lane's ownership token, as taken when its partition was assigned, and
/// the sequence number of its last checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    /// The lane.
    pub lane: String,
    /// The token taken.
    pub token: u64,
    /// The lane's last commit sequence number in the store; a checkpoint
    /// writes the next one.
    pub seq: u64,
}

/// What the fences' current tokens and sequence numbers say about a
/// checkpoint.
#[derive(Debug, PartialEq, Eq)]
pub enum FenceCheck {
    /// Every token is held and every lane is at its expected sequence.
    Write,
    /// Every lane is already one past: an earlier attempt went through.
    AlreadyWritten,
    /// These lanes were taken by another instance.
    Fenced(Vec<String>),
}

/// Compares the fences of a checkpoint with the tokens and sequence numbers
/// the store holds (`None`: none yet). Shared by every store.
pub fn check_fences(fences: &[Fence], tokens: &[Option<u64>], seqs: &[Option<u64>]) -> FenceCheck {
    let mut lost = Vec::new();
    let mut written = 0;
    for ((fence, token), seq) in fences.iter().zip(tokens).zip(seqs) {
        let seq = seq.unwrap_or(0);
        if *token != Some(fence.token) {
            lost.push(fence.lane.clone());
        } else if seq == fence.seq + 1 {
            written += 1;
        } else if seq != fence.seq {
            tracing::error!(lane = %fence.lane, seq, expected = fence.seq, "checkpoint sequence moved under a held token");
            lost.push(fence.lane.clone());
        }
    }
    if !lost.is_empty() {
        FenceCheck::Fenced(lost)
    } else if written == fences.len() {
        FenceCheck::AlreadyWritten
    } else {
        FenceCheck::Write
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fence(lane: &str, token: u64, seq: u64) -> Fence {
        Fence {
            lane: lane.into(),
            token,
            seq,
        }
    }

    #[test]
    fn a_taken_token_fences_the_lane_out() {
        let fences = [fence("a/0", 3, 5), fence("a/1", 1, 0)];
        assert_eq!(
            check_fences(&fences, &[Some(3), Some(1)], &[Some(5), None]),
            FenceCheck::Write
        );
        assert_eq!(
            check_fences(&fences, &[Some(3), Some(1)], &[Some(6), Some(1)]),
            FenceCheck::AlreadyWritten
        );
        assert_eq!(
            check_fences(&fences, &[Some(4), Some(1)], &[Some(5), None]),
            FenceCheck::Fenced(vec!["a/0".into()])
        );
    }
}
