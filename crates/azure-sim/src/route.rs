//! Classifying a request path into the operation it addresses.
//!
//! ARM matches the fixed segments of a path case-insensitively (`/SUBSCRIPTIONS/…/microsoft.security/…`
//! reaches the same resource), which axum's router cannot express, so Azure paths are classified
//! here by hand. The classification is also the "route kind" label of the request counters.
//! Microsoft Graph paths (`/v1.0/organization…`) share the host here (real Graph lives at
//! `https://graph.microsoft.com`); their segments are matched case-insensitively too.

use serde::{Deserialize, Serialize};

/// What a request is aimed at, in counter-friendly form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum RouteKind {
    /// `POST /{tenant}/oauth2/v2.0/token` (Entra).
    Token,
    /// `GET /{tenant}/v2.0/.well-known/openid-configuration` (Entra's OpenID discovery).
    OpenIdConfiguration,
    /// `GET /subscriptions`.
    Subscriptions,
    /// `…/providers/Microsoft.Security/securityContacts/{name}`.
    SecurityContact,
    /// `…/providers/Microsoft.Security/securityContacts` (LIST).
    SecurityContacts,
    /// `GET /providers/Microsoft.Management/managementGroups/{groupId}/descendants`.
    ManagementGroupDescendants,
    /// `GET /subscriptions/{sub}/providers/Microsoft.Insights/eventtypes/management/values`
    /// (Activity Logs - List).
    ActivityLog,
    /// Microsoft Graph `/v1.0/organization` and `/v1.0/organization/{id}`.
    GraphOrganization,
    /// Anything the simulator does not serve.
    Unknown,
}

/// A classified path with the values its segments carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Route {
    Token {
        tenant: String,
    },
    OpenIdConfiguration {
        tenant: String,
    },
    Subscriptions,
    SecurityContact {
        subscription: String,
        name: String,
    },
    SecurityContacts {
        subscription: String,
    },
    ManagementGroupDescendants {
        group: String,
    },
    ActivityLog {
        subscription: String,
    },
    /// `id` is `None` for the collection.
    GraphOrganization {
        id: Option<String>,
    },
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
            [tenant, v2, well_known, document]
                if is(v2, "v2.0")
                    && is(well_known, ".well-known")
                    && is(document, "openid-configuration") =>
            {
                Route::OpenIdConfiguration {
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
            [subs, sub, providers, ns, eventtypes, management, values]
                if is(subs, "subscriptions")
                    && is(providers, "providers")
                    && is(ns, "Microsoft.Insights")
                    && is(eventtypes, "eventtypes")
                    && is(management, "management")
                    && is(values, "values") =>
            {
                Route::ActivityLog {
                    subscription: (*sub).to_owned(),
                }
            }
            [version, organization] if is(version, "v1.0") && is(organization, "organization") => {
                Route::GraphOrganization { id: None }
            }
            [version, organization, id]
                if is(version, "v1.0") && is(organization, "organization") && !id.is_empty() =>
            {
                Route::GraphOrganization {
                    id: Some((*id).to_owned()),
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
            Route::OpenIdConfiguration { .. } => RouteKind::OpenIdConfiguration,
            Route::Subscriptions => RouteKind::Subscriptions,
            Route::SecurityContact { .. } => RouteKind::SecurityContact,
            Route::SecurityContacts { .. } => RouteKind::SecurityContacts,
            Route::ManagementGroupDescendants { .. } => RouteKind::ManagementGroupDescendants,
            Route::ActivityLog { .. } => RouteKind::ActivityLog,
            Route::GraphOrganization { .. } => RouteKind::GraphOrganization,
            Route::Unknown => RouteKind::Unknown,
        }
    }

    /// The subscription segment, as the client sent it.
    pub(crate) fn subscription(&self) -> Option<&str> {
        match self {
            Route::SecurityContact { subscription, .. }
            | Route::SecurityContacts { subscription }
            | Route::ActivityLog { subscription } => Some(subscription),
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
        assert_eq!(
            Route::classify("/tenant-1/v2.0/.well-known/openid-configuration"),
            Route::OpenIdConfiguration {
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
    fn classifies_activity_log_and_graph_organization() {
        let route = Route::classify(
            "/subscriptions/s1/providers/microsoft.insights/eventtypes/management/values",
        );
        assert_eq!(
            route,
            Route::ActivityLog {
                subscription: "s1".into()
            }
        );
        assert_eq!(
            (route.kind(), route.subscription()),
            (RouteKind::ActivityLog, Some("s1"))
        );
        assert_eq!(
            Route::classify("/v1.0/organization"),
            Route::GraphOrganization { id: None }
        );
        let org = Route::classify("/V1.0/Organization/t1/");
        assert_eq!(
            org,
            Route::GraphOrganization {
                id: Some("t1".into())
            }
        );
        assert_eq!(
            (org.kind(), org.subscription()),
            (RouteKind::GraphOrganization, None)
        );
        for path in [
            "/v1.0/organization/t1/branding",
            "/beta/organization",
            "/subscriptions/s1/providers/Microsoft.Insights/eventtypes/management",
        ] {
            assert_eq!(Route::classify(path), Route::Unknown, "{path}");
        }
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
