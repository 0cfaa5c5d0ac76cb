//! Publishing the Events a pass decided on ([`super::record::Note`]).

use kube::{Resource, runtime::events::Event};

use super::{context::Context, record::Note};
use crate::crd::SecurityContactPolicy;

/// The API server refuses Event notes over 1 KiB.
const MAX_NOTE: usize = 1000;

/// Publishes `notes` about `policy`. A failure to publish is logged, never fatal: Events are
/// a courtesy, the status is the record.
pub async fn publish(ctx: &Context, policy: &SecurityContactPolicy, notes: &[Note]) {
    let reference = policy.object_ref(&());
    for note in notes {
        let text = crate::text::clip(&note.note, MAX_NOTE);
        let event = Event {
            type_: note.type_,
            reason: note.reason.clone(),
            action: action(&note.reason, &text),
            note: Some(text),
            secondary: None,
        };
        if let Err(e) = ctx.recorder.publish(&event, &reference).await {
            tracing::warn!(reason = %note.reason, "cannot publish event: {e}");
        }
    }
}

/// The Recorder folds Events with the same type, reason and action into one series and keeps
/// only the first note, so a second remediation (another diff, another writer) would vanish
/// into a count. The action carries a digest of the note: the same note repeated still folds
/// (its count says how often), a different note is an Event of its own.
fn action(reason: &str, note: &str) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    note.hash(&mut h);
    format!("{reason}-{:08x}", h.finish() as u32)
}

#[cfg(test)]
mod tests {
    use super::action;

    #[test]
    fn the_same_note_folds_and_another_note_does_not() {
        assert_eq!(action("Remediated", "a"), action("Remediated", "a"));
        assert_ne!(action("Remediated", "a"), action("Remediated", "b"));
        assert!(action(&"R".repeat(100), "x").len() <= 128);
    }
}
