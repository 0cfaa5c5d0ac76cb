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
        let event = Event {
            type_: note.type_,
            reason: note.reason.clone(),
            note: Some(crate::text::clip(&note.note, MAX_NOTE)),
            action: "Reconcile".into(),
            secondary: None,
        };
        if let Err(e) = ctx.recorder.publish(&event, &reference).await {
            tracing::warn!(reason = %note.reason, "cannot publish event: {e}");
        }
    }
}
