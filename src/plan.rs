//! The decision, pure: (required contact, observed contact) → drift, field-level diff, and the
//! exact body to PUT when something must change.
//!
//! No async, no clock, no I/O. Rules (decided once, so that the CLI, the controller and the
//! tests agree):
//! - Emails compare trimmed and case-insensitively, split on `;` or `,`. Additive requires the
//!   declared addresses to be present and keeps every other one in its order (appending the
//!   missing ones); Exact requires exactly the declared set. The written value is always one
//!   `;`-joined string without spaces, but order, case or separators alone never cause a write.
//! - A field left out of the spec is not managed: the desired body carries ARM's value as is.
//! - Severity and risk level mean "this level or higher". In Additive a more inclusive current
//!   level (Low when High is asked) is compliant and kept; Exact requires equality.
//! - Roles: Additive requires the declared roles present with state On (others kept); Exact
//!   requires the same set.
//! - A compliant contact is enabled: `isEnabled` other than true is drift. No contact is drift.

use std::fmt;

use serde::Serialize;

use crate::{
    arm::wire::{
        ContactProperties, NotificationsByRole, NotificationsSource, SOURCE_ALERT,
        SOURCE_ATTACK_PATH, STATE_ON,
    },
    crd::{ContactSpec, EmailMerge, RiskLevel, Role, Severity},
    emails,
};

/// What the engine concluded for one subscription.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    /// Why the contact is not compliant; empty when it is.
    pub drift: Vec<Drift>,
    /// Field by field, what the write would change.
    pub changes: Vec<FieldChange>,
    /// The full properties to PUT, or `None` when nothing must change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub desired: Option<ContactProperties>,
}

impl Plan {
    pub fn is_compliant(&self) -> bool {
        self.drift.is_empty()
    }
}

/// One reason a contact is not compliant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Drift {
    /// The subscription has no security contact at all (GET 404).
    ContactMissing {
        emails: Vec<String>,
    },
    /// `isEnabled` is false or absent.
    Disabled,
    MissingEmails {
        emails: Vec<String>,
    },
    /// Exact merge only: addresses present that the spec does not declare.
    UnexpectedEmails {
        emails: Vec<String>,
    },
    /// Notification by role is Off, or lacks roles the spec requires.
    RolesNotNotified {
        missing: Vec<String>,
        state_on: bool,
    },
    /// Exact merge only: roles notified that the spec does not declare.
    UnexpectedRoles {
        roles: Vec<String>,
    },
    AlertSeverity {
        current: Option<String>,
        wanted: Severity,
    },
    AttackPathRiskLevel {
        current: Option<String>,
        wanted: RiskLevel,
    },
    Phone {
        current: Option<String>,
        wanted: String,
    },
}

impl fmt::Display for Drift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let or_unset = |v: &Option<String>| v.clone().unwrap_or_else(|| "unset".to_owned());
        match self {
            Drift::ContactMissing { .. } => write!(f, "no security contact"),
            Drift::Disabled => write!(f, "contact disabled"),
            Drift::MissingEmails { emails } => write!(f, "missing emails {}", emails.join(", ")),
            Drift::UnexpectedEmails { emails } => {
                write!(f, "unexpected emails {} (Exact)", emails.join(", "))
            }
            Drift::RolesNotNotified {
                state_on: false, ..
            } => {
                write!(f, "notifications by role are off")
            }
            Drift::RolesNotNotified { missing, .. } => {
                write!(f, "roles not notified: {}", missing.join(", "))
            }
            Drift::UnexpectedRoles { roles } => {
                write!(f, "unexpected roles notified {} (Exact)", roles.join(", "))
            }
            Drift::AlertSeverity { current, wanted } => write!(
                f,
                "alert minimal severity {} (wanted {wanted:?})",
                or_unset(current)
            ),
            Drift::AttackPathRiskLevel { current, wanted } => write!(
                f,
                "attack-path minimal risk level {} (wanted {wanted:?})",
                or_unset(current)
            ),
            Drift::Phone { current, wanted } => {
                write!(f, "phone {} (wanted {wanted})", or_unset(current))
            }
        }
    }
}

/// One field of the ARM body that a write changes, in ARM's own names.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FieldChange {
    pub field: &'static str,
    pub from: Option<String>,
    pub to: Option<String>,
}

impl fmt::Display for FieldChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |v: &Option<String>| match v {
            Some(v) => format!("{v:?}"),
            None => "(unset)".to_owned(),
        };
        write!(
            f,
            "{}: {} -> {}",
            self.field,
            show(&self.from),
            show(&self.to)
        )
    }
}

/// Decides what `observed` (None = no contact) must become to satisfy `spec`.
pub fn plan(spec: &ContactSpec, observed: Option<&ContactProperties>) -> Plan {
    let Some(current) = observed else {
        let desired = create(spec);
        return Plan {
            drift: vec![Drift::ContactMissing {
                emails: spec.emails.clone(),
            }],
            changes: diff(&ContactProperties::default(), &desired),
            desired: Some(desired),
        };
    };

    let mut drift = Vec::new();
    let mut desired = current.clone();

    if current.is_enabled != Some(true) {
        drift.push(Drift::Disabled);
        desired.is_enabled = Some(true);
    }

    let present = emails::split(current.emails.as_deref().unwrap_or_default());
    let missing: Vec<String> = emails::missing(&present, &spec.emails)
        .into_iter()
        .map(str::to_owned)
        .collect();
    let unexpected: Vec<String> = match spec.email_merge {
        EmailMerge::Additive => Vec::new(),
        EmailMerge::Exact => present
            .iter()
            .filter(|p| !emails::contains(&spec.emails, p))
            .cloned()
            .collect(),
    };
    if !missing.is_empty() || !unexpected.is_empty() {
        let merged = match spec.email_merge {
            EmailMerge::Additive => [present.clone(), missing.clone()].concat(),
            EmailMerge::Exact => spec.emails.clone(),
        };
        desired.emails = Some(emails::join(&merged));
        if !missing.is_empty() {
            drift.push(Drift::MissingEmails { emails: missing });
        }
        if !unexpected.is_empty() {
            drift.push(Drift::UnexpectedEmails { emails: unexpected });
        }
    }

    if let Some(roles) = &spec.notify_roles {
        plan_roles(roles, spec.email_merge, current, &mut desired, &mut drift);
    }

    if let Some(wanted) = spec.alert_minimal_severity {
        let current_level = current.alert_minimal_severity();
        if !level_satisfies(
            current_level,
            wanted.as_str(),
            Severity::ORDER,
            spec.email_merge,
        ) {
            drift.push(Drift::AlertSeverity {
                current: current_level.map(str::to_owned),
                wanted,
            });
            set_source(&mut desired, SOURCE_ALERT, |s| {
                s.minimal_severity = Some(wanted.as_str().to_owned())
            });
        }
    }

    if let Some(wanted) = spec.attack_path_minimal_risk_level {
        let current_level = current.attack_path_minimal_risk_level();
        if !level_satisfies(
            current_level,
            wanted.as_str(),
            RiskLevel::ORDER,
            spec.email_merge,
        ) {
            drift.push(Drift::AttackPathRiskLevel {
                current: current_level.map(str::to_owned),
                wanted,
            });
            set_source(&mut desired, SOURCE_ATTACK_PATH, |s| {
                s.minimal_risk_level = Some(wanted.as_str().to_owned())
            });
        }
    }

    if let Some(wanted) = &spec.phone {
        let current_phone = current.phone.as_deref().map(str::trim);
        if current_phone.unwrap_or_default() != wanted.trim() {
            drift.push(Drift::Phone {
                current: current.phone.clone(),
                wanted: wanted.clone(),
            });
            desired.phone = Some(wanted.clone());
        }
    }

    if drift.is_empty() {
        return Plan {
            drift,
            changes: Vec::new(),
            desired: None,
        };
    }
    // The whole email list is rewritten in canonical form whenever we write anyway.
    if let Some(list) = &desired.emails {
        desired.emails = Some(emails::join(&emails::split(list)));
    }
    Plan {
        changes: diff(current, &desired),
        drift,
        desired: Some(desired),
    }
}

fn plan_roles(
    wanted: &[Role],
    merge: EmailMerge,
    current: &ContactProperties,
    desired: &mut ContactProperties,
    drift: &mut Vec<Drift>,
) {
    let wanted: Vec<String> = wanted.iter().map(|r| r.as_str().to_owned()).collect();
    let notified = current.roles_notified();
    let present: Vec<String> = current
        .notifications_by_role
        .as_ref()
        .and_then(|n| n.roles.clone())
        .unwrap_or_default();
    let missing: Vec<String> = wanted
        .iter()
        .filter(|w| !notified.is_some_and(|n| emails::contains(n, w)))
        .cloned()
        .collect();
    let unexpected: Vec<String> = match merge {
        EmailMerge::Additive => Vec::new(),
        EmailMerge::Exact => notified
            .unwrap_or_default()
            .iter()
            .filter(|r| !emails::contains(&wanted, r))
            .cloned()
            .collect(),
    };
    if missing.is_empty() && unexpected.is_empty() {
        return;
    }
    let roles = match merge {
        EmailMerge::Additive => {
            let mut roles = present.clone();
            roles.extend(
                wanted
                    .iter()
                    .filter(|w| !emails::contains(&present, w))
                    .cloned(),
            );
            roles
        }
        EmailMerge::Exact => wanted,
    };
    let by_role = desired
        .notifications_by_role
        .get_or_insert_with(NotificationsByRole::default);
    by_role.state = Some(STATE_ON.to_owned());
    by_role.roles = Some(roles);
    if !missing.is_empty() {
        drift.push(Drift::RolesNotNotified {
            missing,
            state_on: notified.is_some(),
        });
    }
    if !unexpected.is_empty() {
        drift.push(Drift::UnexpectedRoles { roles: unexpected });
    }
}

/// Levels are listed least inclusive first; a level notifies itself and everything above it.
fn level_satisfies(current: Option<&str>, wanted: &str, order: &[&str], merge: EmailMerge) -> bool {
    let rank = |level: &str| order.iter().position(|o| o.eq_ignore_ascii_case(level));
    match (current.and_then(rank), rank(wanted)) {
        (Some(c), Some(w)) => match merge {
            // Later in `order` = more inclusive: keep a current level that notifies more.
            EmailMerge::Additive => c >= w,
            EmailMerge::Exact => c == w,
        },
        _ => false,
    }
}

fn set_source(
    desired: &mut ContactProperties,
    kind: &str,
    set: impl FnOnce(&mut NotificationsSource),
) {
    let sources = desired.notifications_sources.get_or_insert_with(Vec::new);
    let index = match sources
        .iter()
        .position(|s| s.source_type.eq_ignore_ascii_case(kind))
    {
        Some(index) => index,
        None => {
            sources.push(NotificationsSource {
                source_type: kind.to_owned(),
                minimal_severity: None,
                minimal_risk_level: None,
                other: Default::default(),
            });
            sources.len() - 1
        }
    };
    set(&mut sources[index]);
}

/// The body for a subscription without a contact: only what the spec declares.
fn create(spec: &ContactSpec) -> ContactProperties {
    let mut desired = ContactProperties {
        emails: Some(emails::join(&spec.emails)),
        is_enabled: Some(true),
        phone: spec.phone.clone(),
        ..Default::default()
    };
    if let Some(roles) = &spec.notify_roles {
        desired.notifications_by_role = Some(NotificationsByRole {
            state: Some(STATE_ON.to_owned()),
            roles: Some(roles.iter().map(|r| r.as_str().to_owned()).collect()),
            ..Default::default()
        });
    }
    if let Some(severity) = spec.alert_minimal_severity {
        set_source(&mut desired, SOURCE_ALERT, |s| {
            s.minimal_severity = Some(severity.as_str().to_owned())
        });
    }
    if let Some(level) = spec.attack_path_minimal_risk_level {
        set_source(&mut desired, SOURCE_ATTACK_PATH, |s| {
            s.minimal_risk_level = Some(level.as_str().to_owned())
        });
    }
    desired
}

/// Field-level differences between two bodies, in ARM's field names.
pub fn diff(before: &ContactProperties, after: &ContactProperties) -> Vec<FieldChange> {
    let roles = |p: &ContactProperties| {
        p.notifications_by_role
            .as_ref()
            .and_then(|n| n.roles.as_ref())
            .map(|r| r.join(","))
    };
    let state = |p: &ContactProperties| {
        p.notifications_by_role
            .as_ref()
            .and_then(|n| n.state.clone())
    };
    let fields: [(&'static str, Option<String>, Option<String>); 7] = [
        ("emails", before.emails.clone(), after.emails.clone()),
        ("phone", before.phone.clone(), after.phone.clone()),
        (
            "isEnabled",
            before.is_enabled.map(|b| b.to_string()),
            after.is_enabled.map(|b| b.to_string()),
        ),
        ("notificationsByRole.state", state(before), state(after)),
        ("notificationsByRole.roles", roles(before), roles(after)),
        (
            "notificationsSources[Alert].minimalSeverity",
            before.alert_minimal_severity().map(str::to_owned),
            after.alert_minimal_severity().map(str::to_owned),
        ),
        (
            "notificationsSources[AttackPath].minimalRiskLevel",
            before.attack_path_minimal_risk_level().map(str::to_owned),
            after.attack_path_minimal_risk_level().map(str::to_owned),
        ),
    ];
    fields
        .into_iter()
        .filter(|(_, from, to)| from != to)
        .map(|(field, from, to)| FieldChange { field, from, to })
        .collect()
}

/// What Revert does to one subscription, pure.
#[derive(Clone, Debug, PartialEq)]
pub struct Revert {
    /// The addresses of ours that are on the contact and not required by another policy.
    pub removed: Vec<String>,
    pub action: RevertAction,
}

#[derive(Clone, Debug, PartialEq)]
pub enum RevertAction {
    /// PUT the current contact with only `removed` taken out.
    Put(ContactProperties),
    /// Nothing else is left and this policy created the contact: delete it.
    Delete,
    /// Nothing else would be left on a contact someone else created: leave it as it is
    /// rather than leave the subscription with no address at all.
    LeaveLast,
}

/// Revert on a contact: take off the addresses this policy added (`added`, from the ledger)
/// unless another live policy requires them (`required_elsewhere`); keep everything else as it
/// is. `created` says whether this policy created the contact. `None` when nothing of ours is
/// on the contact (or there is no contact).
pub fn revert(
    current: Option<&ContactProperties>,
    added: &[String],
    required_elsewhere: &[String],
    created: bool,
) -> Option<Revert> {
    let current = current?;
    let present = emails::split(current.emails.as_deref().unwrap_or_default());
    let (removed, kept): (Vec<String>, Vec<String>) = present
        .into_iter()
        .partition(|a| emails::contains(added, a) && !emails::contains(required_elsewhere, a));
    if removed.is_empty() {
        return None;
    }
    let action = match (kept.is_empty(), created) {
        (false, _) => {
            let mut desired = current.clone();
            desired.emails = Some(emails::join(&kept));
            RevertAction::Put(desired)
        }
        (true, true) => RevertAction::Delete,
        (true, false) => RevertAction::LeaveLast,
    };
    Some(Revert { removed, action })
}

#[cfg(test)]
mod tests;
