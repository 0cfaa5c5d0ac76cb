//! Classifying a request path into the operation it addresses.
//!
//! ARM matches the fixed segments of a path case-insensitively (`/SUBSCRIPTIONS/…/microsoft.security/…`
//! reaches the same resource), which axum's router cannot express, so Azure paths are classified
//! here by hand. The classification is also the "route kind" label of the request counters.

use serde::{Deserialize, Serialize};

/// What a request is aimed at, in counter-friendly form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum RouteKind {
    /// `POST /{tenant}/oauth2/v2.0/token` (Entra).
    Token,
    /// `GET /subscriptions`.
    Subscriptions,
    /// `…/providers/Microsoft.Security/securityContacts/{name}`.
    SecurityContact,
    /// `…/providers/Microsoft.Security/securityContacts` (LIST).
    SecurityContacts,
    /// `GET /providers/Microsoft.Management/managementGroups/{groupId}/descendants`.
    ManagementGroupDescendants,
    /// Anything the simulator does not serve.
    Unknown,
}

/// A classified path with the values its segments carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Route {
    Token { tenant: String },
    Subscriptions,
    SecurityContact { subscription: String, name: String },
    SecurityContacts { subscription: String },
    ManagementGroupDescendants { group: String },
    Unknown,
}

impl Route {
    /// Classifies an already percent-decoded-free path (ARM ids never need decoding).
    pub(crate) fn classify(path: &str) -> Route {
        let segments: Vec<&str> = path
            .trim_start_matches('/')
            .trim_end_matches('/')
            .split('/')
            .collect();
        let is = |s: &str, expected: &str| s.eq_ignore_ascii_case(expected);
        match segments.as_slice() {
            [tenant, oauth, v2, token]
                if is(oauth, "oauth2") && is(v2, "v2.0") && is(token, "token") =>
            {
                Route::Token {
                    tenant: (*tenant).to_owned(),
                }
            }
            [subs] if is(subs, "subscriptions") => Route::Subscriptions,
            [subs, sub, providers, ns, kind]
                if is(subs, "subscriptions")
                    && is(providers, "providers")
                    && is(ns, "Microsoft.Security")
                    && is(kind, "securityContacts") =>
            {
                Route::SecurityContacts {
                    subscription: (*sub).to_owned(),
                }
            }
            [subs, sub, providers, ns, kind, name]
                if is(subs, "subscriptions")
                    && is(providers, "providers")
                    && is(ns, "Microsoft.Security")
                    && is(kind, "securityContacts") =>
            {
                Route::SecurityContact {
                    subscription: (*sub).to_owned(),
                    name: (*name).to_owned(),
                }
            }
            [providers, ns, groups, group, descendants]
                if is(providers, "providers")
                    && is(ns, "Microsoft.Management")
                    && is(groups, "managementGroups")
                    && is(descendants, "descendants") =>
            {
                Route::ManagementGroupDescendants {
                    group: (*group).to_owned(),
                }
            }
            _ => Route::Unknown,
        }
    }

    pub(crate) fn kind(&self) -> RouteKind {
        match self {
            Route::Token { .. } => RouteKind::Token,
            Route::Subscriptions => RouteKind::Subscriptions,
            Route::SecurityContact { .. } => RouteKind::SecurityContact,
            Route::SecurityContacts { .. } => RouteKind::SecurityContacts,
            Route::ManagementGroupDescendants { .. } => RouteKind::ManagementGroupDescendants,
            Route::Unknown => RouteKind::Unknown,
        }
    }

    /// The subscription segment, as the client sent it.
    pub(crate) fn subscription(&self) -> Option<&str> {
        match self {
            Route::SecurityContact { subscription, .. }
            | Route::SecurityContacts { subscription } => Some(subscription),
            _ => None,
        }
    }

    /// The management group segment, as the client sent it.
    pub(crate) fn management_group(&self) -> Option<&str> {
        match self {
            Route::ManagementGroupDescendants { group } => Some(group),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_every_served_path() {
        assert_eq!(
            Route::classify("/tenant-1/oauth2/v2.0/token"),
            Route::Token {
                tenant: "tenant-1".into()
            }
        );
        assert_eq!(Route::classify("/subscriptions"), Route::Subscriptions);
        assert_eq!(Route::classify("/subscriptions/"), Route::Subscriptions);
        assert_eq!(
            Route::classify("/subscriptions/s1/providers/Microsoft.Security/securityContacts"),
            Route::SecurityContacts {
                subscription: "s1".into()
            }
        );
        assert_eq!(
            Route::classify(
                "/subscriptions/s1/providers/Microsoft.Security/securityContacts/default"
            ),
            Route::SecurityContact {
                subscription: "s1".into(),
                name: "default".into()
            }
        );
    }

    #[test]
    fn classifies_management_group_descendants() {
        let route = Route::classify(
            "/providers/Microsoft.Management/managementGroups/contoso-apps/descendants",
        );
        assert_eq!(
            route,
            Route::ManagementGroupDescendants {
                group: "contoso-apps".into()
            }
        );
        assert_eq!(route.kind(), RouteKind::ManagementGroupDescendants);
        assert_eq!(route.management_group(), Some("contoso-apps"));
        assert_eq!(route.subscription(), None);
        assert_eq!(
            Route::classify("/PROVIDERS/microsoft.management/MANAGEMENTGROUPS/g/Descendants/")
                .kind(),
            RouteKind::ManagementGroupDescendants
        );
    }

    #[test]
    fn fixed_segments_are_case_insensitive_like_arm() {
        assert_eq!(
            Route::classify(
                "/SUBSCRIPTIONS/S1/PROVIDERS/microsoft.security/SECURITYCONTACTS/Default"
            )
            .kind(),
            RouteKind::SecurityContact
        );
    }

    #[test]
    fn other_paths_are_unknown() {
        for path in [
            "/",
            "/subscriptions/s1",
            "/subscriptions/s1/providers/Microsoft.Compute/virtualMachines",
            "/subscriptions/s1/providers/Microsoft.Security/securityContacts/default/extra",
            "/t/oauth2/token",
            "/providers/Microsoft.Management/managementGroups/g",
            "/providers/Microsoft.Management/managementGroups/g/subscriptions",
            "/providers/Microsoft.Management/managementGroups/g/descendants/x",
        ] {
            assert_eq!(Route::classify(path), Route::Unknown, "{path}");
        }
    }
}
