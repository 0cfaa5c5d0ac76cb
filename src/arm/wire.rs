//! Exact wire types of `Microsoft.Security/securityContacts`, api-version 2023-12-01-preview.
//!
//! Every level keeps the fields it does not know (`other`), because a PUT replaces the whole
//! resource: a field we do not manage must go back to ARM exactly as it came. Enums are
//! extensible strings in the spec (`modelAsString: true`), so they stay strings here.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub const API_VERSION: &str = "2023-12-01-preview";
/// The only name the service accepts for a security contact.
pub const CONTACT_NAME: &str = "default";

/// A `SecurityContact` resource as ARM returns it.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SecurityContact {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
    #[serde(default)]
    pub properties: ContactProperties,
    /// `etag`, `location`, `systemData` and whatever else the service adds.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

impl SecurityContact {
    /// The resource's etag, when ARM gives one (the 2023-12-01-preview spec declares none, but
    /// list payloads of the service have carried one).
    pub fn etag(&self) -> Option<&str> {
        self.other.get("etag").and_then(Value::as_str)
    }
}

/// The PUT body: properties only, as the SDKs send it.
#[derive(Serialize, Debug)]
pub struct PutBody<'a> {
    pub properties: &'a ContactProperties,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ContactProperties {
    /// One string holding every address, `;`-separated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub emails: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notifications_by_role: Option<NotificationsByRole>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notifications_sources: Option<Vec<NotificationsSource>>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct NotificationsByRole {
    /// `On` or `Off`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<String>>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// One item of the polymorphic `notificationsSources` (discriminator `sourceType`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct NotificationsSource {
    /// `Alert`, `AttackPath`, or a kind this client does not know yet (kept as is).
    pub source_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimal_severity: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimal_risk_level: Option<String>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

pub const SOURCE_ALERT: &str = "Alert";
pub const SOURCE_ATTACK_PATH: &str = "AttackPath";
pub const STATE_ON: &str = "On";

impl ContactProperties {
    fn source(&self, kind: &str) -> Option<&NotificationsSource> {
        self.notifications_sources
            .as_deref()?
            .iter()
            .find(|s| s.source_type.eq_ignore_ascii_case(kind))
    }

    pub fn alert_minimal_severity(&self) -> Option<&str> {
        self.source(SOURCE_ALERT)?.minimal_severity.as_deref()
    }

    pub fn attack_path_minimal_risk_level(&self) -> Option<&str> {
        self.source(SOURCE_ATTACK_PATH)?
            .minimal_risk_level
            .as_deref()
    }

    /// Roles notified, or `None` when notification by role is not On.
    pub fn roles_notified(&self) -> Option<&[String]> {
        let by_role = self.notifications_by_role.as_ref()?;
        let on = by_role
            .state
            .as_deref()
            .is_some_and(|s| s.eq_ignore_ascii_case(STATE_ON));
        on.then(|| by_role.roles.as_deref().unwrap_or_default())
    }
}

/// ARM's error envelope `{"error": {code, message, target, details, additionalInfo}}`.
#[derive(Deserialize, Debug, Default)]
pub struct CloudError {
    #[serde(default)]
    pub error: CloudErrorBody,
}

#[derive(Deserialize, Debug, Default)]
pub struct CloudErrorBody {
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub message: String,
}

/// `Subscriptions_List` page (`Microsoft.Resources` 2022-12-01).
#[derive(Deserialize, Debug, Default)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionPage {
    #[serde(default)]
    pub value: Vec<Subscription>,
    #[serde(default)]
    pub next_link: Option<String>,
}

#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Subscription {
    pub subscription_id: String,
    #[serde(default)]
    pub display_name: Option<String>,
    /// Enabled, Warned, PastDue, Disabled or Deleted.
    #[serde(default)]
    pub state: Option<String>,
    /// Absent on untagged subscriptions.
    #[serde(default)]
    pub tags: std::collections::BTreeMap<String, String>,
}

/// `ManagementGroups_GetDescendants` page (`Microsoft.Management` 2020-05-01 and later): every
/// group and subscription below a group, at any depth, flat.
#[derive(Deserialize, Debug, Default)]
#[serde(rename_all = "camelCase")]
pub struct DescendantPage {
    #[serde(default)]
    pub value: Vec<Descendant>,
    #[serde(default)]
    pub next_link: Option<String>,
}

#[derive(Deserialize, Debug, Default)]
pub struct Descendant {
    /// `/subscriptions/<id>` or `/providers/Microsoft.Management/managementGroups/<id>`.
    #[serde(default)]
    pub id: String,
    /// `Microsoft.Management/managementGroups/subscriptions` for a subscription (the docs also
    /// say `/subscriptions`), `Microsoft.Management/managementGroups` for a group.
    #[serde(default, rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub name: String,
}

impl Descendant {
    /// The subscription id, when this descendant is a subscription.
    pub fn subscription(&self) -> Option<&str> {
        let by_type = self.kind.eq_ignore_ascii_case("/subscriptions")
            || self.kind.to_ascii_lowercase().ends_with("/subscriptions");
        let by_id = self.id.to_ascii_lowercase().starts_with("/subscriptions/");
        (by_type || by_id).then_some(self.name.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_unknown_fields_at_every_level() {
        let json = serde_json::json!({
            "id": "/subscriptions/s/providers/Microsoft.Security/securityContacts/default",
            "name": "default",
            "type": "Microsoft.Security/securityContacts",
            "etag": "\"53030a17\"",
            "properties": {
                "emails": "a@x.io;b@x.io",
                "isEnabled": true,
                "futureField": {"x": 1},
                "notificationsByRole": {"state": "On", "roles": ["Owner"], "extra": 2},
                "notificationsSources": [
                    {"sourceType": "Alert", "minimalSeverity": "Medium"},
                    {"sourceType": "SomethingNew", "knob": true}
                ]
            }
        });
        let contact: SecurityContact = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(contact.properties.alert_minimal_severity(), Some("Medium"));
        assert_eq!(serde_json::to_value(&contact).unwrap(), json);
    }

    #[test]
    fn roles_notified_requires_state_on() {
        let mut p = ContactProperties {
            notifications_by_role: Some(NotificationsByRole {
                state: Some("Off".into()),
                roles: Some(vec!["Owner".into()]),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(p.roles_notified(), None);
        p.notifications_by_role.as_mut().unwrap().state = Some("On".into());
        assert_eq!(p.roles_notified(), Some(&["Owner".to_owned()][..]));
    }
}

/// `Activity Logs - List` page (`Microsoft.Insights` 2015-04-01): `EventData`, newest first.
#[derive(Deserialize, Debug, Default)]
#[serde(rename_all = "camelCase")]
pub struct EventPage {
    #[serde(default)]
    pub value: Vec<EventData>,
    #[serde(default)]
    pub next_link: Option<String>,
}

/// The fields of an Activity Log `EventData` that say who wrote what, and when.
#[derive(Deserialize, Debug, Default, Clone)]
#[serde(rename_all = "camelCase")]
pub struct EventData {
    #[serde(default)]
    pub caller: Option<String>,
    #[serde(default)]
    pub event_timestamp: Option<String>,
    #[serde(default)]
    pub operation_name: Option<LocalizedValue>,
    #[serde(default)]
    pub status: Option<LocalizedValue>,
}

#[derive(Deserialize, Debug, Default, Clone)]
pub struct LocalizedValue {
    #[serde(default)]
    pub value: String,
}
