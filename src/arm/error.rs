//! ARM failures, classified so callers can decide: retry (transient) or tell a person (terminal).

use std::time::{Duration, SystemTime};

use http::{HeaderMap, StatusCode};

use super::{retry_after, wire::CloudError};

/// One failed ARM or token call. Keeps what support needs (ARM's `code`, `message`, HTTP
/// status, `x-ms-request-id`, `x-ms-correlation-request-id`) and never a token or secret.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ArmError {
    #[error("ARM answered {status} {code}: {message}{}", ids(.request_id, .correlation_id))]
    Response {
        status: u16,
        code: String,
        message: String,
        request_id: Option<String>,
        correlation_id: Option<String>,
        /// How long ARM asked us to wait (`x-ms-retry-after-ms` or `Retry-After`).
        retry_after: Option<Duration>,
        /// The body was ARM's JSON error (`{"error":{"code":…}}`), not a proxy's page.
        from_arm: bool,
    },
    /// The request never got an HTTP answer: connection refused or reset, TLS, timeout.
    #[error("could not reach ARM: {message}")]
    Transport { message: String },
    /// No token: the credential was refused, or the token endpoint could not be reached.
    #[error("could not get an Azure token: {message}")]
    Credential {
        message: String,
        transient: bool,
        /// How long the token endpoint asked us to wait.
        retry_after: Option<Duration>,
    },
    #[error("unexpected answer from ARM: {0}")]
    Decode(String),
}

fn ids(request_id: &Option<String>, correlation_id: &Option<String>) -> String {
    match (request_id, correlation_id) {
        (Some(r), Some(c)) => format!(" (x-ms-request-id {r}, x-ms-correlation-request-id {c})"),
        (Some(r), None) => format!(" (x-ms-request-id {r})"),
        (None, Some(c)) => format!(" (x-ms-correlation-request-id {c})"),
        (None, None) => String::new(),
    }
}

/// Error codes that mean "this subscription cannot be served", as opposed to "no contact".
const SUBSCRIPTION_NOT_FOUND: &str = "SubscriptionNotFound";
const PROVIDER_NOT_REGISTERED: &[&str] = &[
    "Subscription Not Registered",
    "SubscriptionNotRegistered",
    "MissingSubscriptionRegistration",
];

impl ArmError {
    /// Builds the error from a non-success response; `now` dates an HTTP-date `Retry-After`.
    pub fn from_response(
        status: StatusCode,
        headers: &HeaderMap,
        body: &[u8],
        now: SystemTime,
    ) -> Self {
        let parsed: Option<CloudError> = serde_json::from_slice(body).ok();
        let from_arm = parsed.as_ref().is_some_and(|p| !p.error.code.is_empty());
        let parsed = parsed.unwrap_or_default();
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let code = header("x-ms-error-code")
            .filter(|c| !c.is_empty())
            .or(Some(parsed.error.code).filter(|c| !c.is_empty()))
            .unwrap_or_else(|| {
                status
                    .canonical_reason()
                    .unwrap_or("Error")
                    .replace(' ', "")
            });
        let message = if parsed.error.message.is_empty() {
            String::from_utf8_lossy(&body[..body.len().min(512)])
                .trim()
                .to_owned()
        } else {
            parsed.error.message
        };
        ArmError::Response {
            status: status.as_u16(),
            code,
            message,
            request_id: header("x-ms-request-id"),
            correlation_id: header("x-ms-correlation-request-id"),
            retry_after: retry_after::parse(headers, now),
            from_arm,
        }
    }

    pub fn from_transport(error: &reqwest::Error) -> Self {
        // reqwest's Display names the URL but never headers, so no token can leak here.
        let mut message = error.to_string();
        let mut source = std::error::Error::source(error);
        while let Some(cause) = source {
            message = format!("{message}: {cause}");
            source = cause.source();
        }
        ArmError::Transport { message }
    }

    /// The message without request ids, stable across retries (for statuses).
    pub fn summary(&self) -> String {
        match self {
            ArmError::Response {
                status,
                code,
                message,
                ..
            } => {
                format!("ARM answered {status} {code}: {message}")
            }
            other => other.to_string(),
        }
    }

    /// `x-ms-request-id` / `x-ms-correlation-request-id`, for support (logs, Events, CLI).
    pub fn request_ids(&self) -> Option<String> {
        match self {
            ArmError::Response {
                request_id,
                correlation_id,
                ..
            } => Some(ids(request_id, correlation_id))
                .filter(|s| !s.is_empty())
                .map(|s| {
                    s.trim()
                        .trim_start_matches('(')
                        .trim_end_matches(')')
                        .to_owned()
                }),
            _ => None,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            ArmError::Response { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Worth retrying: throttling, timeouts, resets, 5xx.
    pub fn is_transient(&self) -> bool {
        match self {
            ArmError::Response { status, .. } => matches!(status, 408 | 429 | 500..=599),
            ArmError::Transport { .. } => true,
            ArmError::Credential { transient, .. } => *transient,
            ArmError::Decode(_) => false,
        }
    }

    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ArmError::Response { retry_after, .. } | ArmError::Credential { retry_after, .. } => {
                *retry_after
            }
            _ => None,
        }
    }

    /// ARM saying the contact does not exist: a 404 in ARM's own JSON error shape that is not
    /// about the subscription. A 404 page from a proxy or gateway is not that: treating it as
    /// "no contact" would create a contact over a real one.
    pub fn is_missing_contact(&self) -> bool {
        matches!(
            self,
            ArmError::Response {
                status: 404,
                from_arm: true,
                ..
            }
        ) && !self.is_subscription_level()
    }

    /// A 404 that says the subscription itself is unusable, not that it has no contact.
    pub fn is_subscription_level(&self) -> bool {
        match self {
            ArmError::Response { code, .. } => {
                code == SUBSCRIPTION_NOT_FOUND || PROVIDER_NOT_REGISTERED.contains(&code.as_str())
            }
            _ => false,
        }
    }

    /// One CamelCase word for statuses, Events and metric labels.
    pub fn reason(&self) -> &'static str {
        match self {
            ArmError::Credential {
                transient: false, ..
            } => "CredentialsInvalid",
            ArmError::Credential {
                transient: true, ..
            } => "TokenEndpointUnavailable",
            ArmError::Transport { .. } => "ArmUnreachable",
            ArmError::Decode(_) => "UnexpectedResponse",
            ArmError::Response { status, code, .. } => match (status, code.as_str()) {
                (429, _) => "Throttled",
                (401, _) => "CredentialsInvalid",
                (403, _) => "AuthorizationFailed",
                (_, SUBSCRIPTION_NOT_FOUND) => "SubscriptionNotFound",
                (_, c) if PROVIDER_NOT_REGISTERED.contains(&c) => "ProviderNotRegistered",
                (_, "ReadOnlyDisabledSubscription") => "SubscriptionDisabled",
                (408 | 500..=599, _) => "ArmUnavailable",
                (404, _) if !self.is_missing_contact() => "UnexpectedResponse",
                _ => "ArmRequestFailed",
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, body: &str, headers: &[(&str, &str)]) -> ArmError {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.insert(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        ArmError::from_response(
            StatusCode::from_u16(status).unwrap(),
            &map,
            body.as_bytes(),
            SystemTime::UNIX_EPOCH,
        )
    }

    #[test]
    fn keeps_code_message_and_ids() {
        let e = response(
            403,
            r#"{"error":{"code":"AuthorizationFailed","message":"The client 'x' does not have authorization"}}"#,
            &[
                ("x-ms-request-id", "req-1"),
                ("x-ms-correlation-request-id", "corr-1"),
            ],
        );
        assert_eq!(
            e.to_string(),
            "ARM answered 403 AuthorizationFailed: The client 'x' does not have authorization \
             (x-ms-request-id req-1, x-ms-correlation-request-id corr-1)"
        );
        assert!(!e.is_transient());
        assert_eq!(e.reason(), "AuthorizationFailed");
    }

    #[test]
    fn classifies_transient_and_terminal() {
        for status in [408, 429, 500, 502, 503, 504] {
            assert!(response(status, "", &[]).is_transient(), "{status}");
        }
        for status in [400, 401, 403, 404, 409] {
            assert!(!response(status, "", &[]).is_transient(), "{status}");
        }
        assert!(
            ArmError::Transport {
                message: "reset".into()
            }
            .is_transient()
        );
    }

    #[test]
    fn subscription_level_404s_are_told_apart_from_no_contact() {
        let not_registered = response(
            404,
            r#"{"error":{"code":"Subscription Not Registered","message":"Please register to Microsoft.Security in order to view your security status"}}"#,
            &[],
        );
        assert!(not_registered.is_subscription_level());
        assert_eq!(not_registered.reason(), "ProviderNotRegistered");
        let missing = response(
            404,
            r#"{"error":{"code":"NotFound","message":"Could not find security contact"}}"#,
            &[],
        );
        assert!(!missing.is_subscription_level());
        assert!(missing.is_missing_contact());
        assert!(!not_registered.is_missing_contact());
        let proxy = response(404, "<html><body>404 Not Found</body></html>", &[]);
        assert!(
            !proxy.is_missing_contact(),
            "a proxy's page is no answer from ARM"
        );
        assert_eq!(proxy.reason(), "UnexpectedResponse");
        let bare = response(404, "", &[("x-ms-error-code", "NotFound")]);
        assert!(!bare.is_missing_contact(), "no ARM body, no verdict");
        let gone = response(
            404,
            r#"{"error":{"code":"SubscriptionNotFound","message":"x"}}"#,
            &[],
        );
        assert_eq!(gone.reason(), "SubscriptionNotFound");
    }

    #[test]
    fn header_error_code_wins_and_odd_bodies_are_tolerated() {
        let e = response(
            500,
            "<html>oops</html>",
            &[("x-ms-error-code", "InternalError")],
        );
        assert!(
            matches!(&e, ArmError::Response { code, message, .. } if code == "InternalError" && message == "<html>oops</html>")
        );
        let e = response(503, "", &[]);
        assert!(matches!(&e, ArmError::Response { code, .. } if code == "ServiceUnavailable"));
    }

    #[test]
    fn carries_retry_after() {
        let e = response(429, "", &[("retry-after", "17")]);
        assert_eq!(e.retry_after(), Some(Duration::from_secs(17)));
        assert_eq!(e.reason(), "Throttled");
    }
}
