//! Tokens, and telling an outage from a wrong credential.
//!
//! `azure_identity` 1.0 turns every token failure into an `azure_core::Error`, but it loses
//! what we must know: when Entra's error body does not deserialise into its borrowed types
//! (real Entra puts escaped `\r\n` in `error_description`), the error is a bare
//! `DataConversion` without the HTTP status, so a 503 "AADSTS90033: A transient error has
//! occurred" looks like a wrong secret. So the credential's transport is wrapped: it records
//! what the token endpoint last answered (status, Entra's `error` and `error_codes`, the first
//! line of the description, `Retry-After`), and [`classify`] decides from that record, falling
//! back to the error kind. Only Entra's statements that the credential is wrong are terminal;
//! 408, 429, 5xx, timeouts and connection failures are transient.
//!
//! Every message is scrubbed of the values the identity was built from (a Secret's
//! `tenantId`, `clientId`, `clientSecret`) before anyone sees it.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, SystemTime},
};

use azure_core::{
    credentials::{AccessToken, TokenCredential},
    error::ErrorKind,
    http::{AsyncRawResponse, HttpClient, Request},
};
use serde::Deserialize;

use super::{ArmError, retry_after};

/// What the token endpoint (Entra or IMDS) answered to the last token request.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct TokenAnswer {
    /// HTTP status; `None` when no answer came (connection refused, reset, timeout).
    pub status: Option<u16>,
    /// Entra's `error` (`invalid_client`, `unauthorized_client`, ...).
    pub error: Option<String>,
    pub codes: Vec<i64>,
    /// The first line of `error_description` (the rest is trace ids and a timestamp, which
    /// change on every call and would rewrite the status each pass).
    pub description: Option<String>,
    /// Why no answer came.
    pub unreachable: Option<String>,
    pub retry_after: Option<Duration>,
}

#[derive(Deserialize)]
struct EntraError {
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    error_description: Option<String>,
    #[serde(default)]
    error_codes: Vec<i64>,
}

/// Entra codes that say "try again", whatever the HTTP status.
const TRANSIENT_CODES: &[i64] = &[
    90033, // "A transient error has occurred. Please try again."
];

impl TokenAnswer {
    fn from_response(status: u16, headers: &http::HeaderMap, body: &[u8]) -> Self {
        let parsed: Option<EntraError> = serde_json::from_slice(body).ok();
        let description = parsed
            .as_ref()
            .and_then(|p| p.error_description.as_deref())
            .map(|d| d.lines().next().unwrap_or_default().trim().to_owned())
            .or_else(|| {
                // Not Entra's JSON (a proxy's HTML page, IMDS text): keep a short excerpt.
                let text = String::from_utf8_lossy(&body[..body.len().min(200)]);
                Some(text.split_whitespace().collect::<Vec<_>>().join(" "))
                    .filter(|t| !t.is_empty())
            });
        TokenAnswer {
            status: Some(status),
            error: parsed.as_ref().and_then(|p| p.error.clone()),
            codes: parsed.map(|p| p.error_codes).unwrap_or_default(),
            description,
            unreachable: None,
            retry_after: retry_after::parse(headers, SystemTime::now()),
        }
    }

    fn transient(&self) -> bool {
        match self.status {
            None => true,
            Some(s) => {
                matches!(s, 408 | 429 | 500..=599)
                    || self.codes.iter().any(|c| TRANSIENT_CODES.contains(c))
            }
        }
    }

    fn message(&self) -> String {
        match (self.status, &self.unreachable) {
            (None, why) => format!(
                "the token endpoint could not be reached: {}",
                why.as_deref().unwrap_or("no answer")
            ),
            (Some(status), _) => {
                let what = self.description.as_deref().unwrap_or("no details");
                if self.transient() {
                    format!("the token endpoint is unavailable (HTTP {status}): {what}; will retry")
                } else {
                    format!("the credential was refused (HTTP {status}): {what}")
                }
            }
        }
    }
}

/// Turns a token failure into an [`ArmError::Credential`]: transient when the endpoint was
/// unreachable or said so, terminal when Entra refused the credential.
pub(crate) fn classify(error: &azure_core::Error, answer: Option<&TokenAnswer>) -> ArmError {
    if let Some(answer) = answer {
        return ArmError::Credential {
            message: answer.message(),
            transient: answer.transient(),
            retry_after: answer.retry_after,
        };
    }
    let transient = match error.kind() {
        ErrorKind::Io | ErrorKind::Connection => true,
        ErrorKind::HttpResponse { status, .. } => {
            matches!(u16::from(*status), 408 | 429 | 500..=599)
        }
        _ => false,
    };
    ArmError::Credential {
        message: error.to_string(),
        transient,
        retry_after: None,
    }
}

/// The token transport: the shared reqwest client, recording each non-success answer.
#[derive(Debug)]
pub(crate) struct ObservedTransport {
    http: reqwest::Client,
    last: Arc<Mutex<Option<TokenAnswer>>>,
}

#[async_trait::async_trait]
impl HttpClient for ObservedTransport {
    async fn execute_request(&self, request: &Request) -> azure_core::Result<AsyncRawResponse> {
        let record =
            |answer: Option<TokenAnswer>| *self.last.lock().expect("token answer") = answer;
        let response = match self.http.execute_request(request).await {
            Ok(response) => response,
            Err(e) => {
                record(Some(TokenAnswer {
                    unreachable: Some(e.to_string()),
                    ..TokenAnswer::default()
                }));
                return Err(e);
            }
        };
        let status = u16::from(response.status());
        if (200..300).contains(&status) {
            record(None);
            return Ok(response);
        }
        let (status_code, headers, body) = response.deconstruct();
        let bytes = body.collect().await?;
        let mut map = http::HeaderMap::new();
        for (name, value) in headers.iter() {
            if let (Ok(n), Ok(v)) = (
                http::HeaderName::from_bytes(name.as_str().as_bytes()),
                http::HeaderValue::from_str(value.as_str()),
            ) {
                map.insert(n, v);
            }
        }
        record(Some(TokenAnswer::from_response(status, &map, &bytes)));
        Ok(AsyncRawResponse::from_bytes(status_code, headers, bytes))
    }
}

/// A token credential whose failures are classified and scrubbed.
#[derive(Clone)]
pub struct Credential {
    inner: Arc<dyn TokenCredential>,
    last: Arc<Mutex<Option<TokenAnswer>>>,
    /// (value, what to show instead): the values the identity came from.
    redactions: Arc<Vec<(String, String)>>,
}

impl Credential {
    /// Wraps `build`, which gets the transport to use for token requests.
    pub(crate) fn new<F>(
        http: &reqwest::Client,
        redactions: Vec<(String, String)>,
        build: F,
    ) -> Result<Credential, ArmError>
    where
        F: FnOnce(Arc<dyn HttpClient>) -> azure_core::Result<Arc<dyn TokenCredential>>,
    {
        let last = Arc::new(Mutex::new(None));
        let transport = Arc::new(ObservedTransport {
            http: http.clone(),
            last: last.clone(),
        });
        let credential = Credential {
            inner: Arc::new(NoCredential),
            last,
            redactions: Arc::new(redactions),
        };
        let inner = build(transport).map_err(|e| credential.scrub(classify(&e, None)))?;
        Ok(Credential {
            inner,
            ..credential
        })
    }

    /// A credential that is not ours to observe (tests hand one in).
    pub fn from_token_credential(inner: Arc<dyn TokenCredential>) -> Credential {
        Credential {
            inner,
            last: Arc::new(Mutex::new(None)),
            redactions: Arc::new(Vec::new()),
        }
    }

    /// A token for `scope` (cached by the credential until near expiry).
    pub async fn token(&self, scope: &str) -> Result<AccessToken, ArmError> {
        *self.last.lock().expect("token answer") = None;
        match self.inner.get_token(&[scope], None).await {
            Ok(token) => Ok(token),
            Err(e) => {
                let answer = self.last.lock().expect("token answer").clone();
                Err(self.scrub(classify(&e, answer.as_ref())))
            }
        }
    }

    fn scrub(&self, error: ArmError) -> ArmError {
        match error {
            ArmError::Credential {
                message,
                transient,
                retry_after,
            } => ArmError::Credential {
                message: redact(&message, &self.redactions),
                transient,
                retry_after,
            },
            other => other,
        }
    }
}

/// `text` with every listed value replaced by its label. Longer values first, so a value that
/// contains another is replaced whole.
pub(crate) fn redact(text: &str, redactions: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> =
        redactions.iter().filter(|(v, _)| v.len() >= 4).collect();
    sorted.sort_by_key(|(v, _)| std::cmp::Reverse(v.len()));
    sorted
        .into_iter()
        .fold(text.to_owned(), |acc, (value, label)| {
            acc.replace(value.as_str(), label)
        })
}

/// Placeholder while the real credential is built.
#[derive(Debug)]
struct NoCredential;

#[async_trait::async_trait]
impl TokenCredential for NoCredential {
    async fn get_token(
        &self,
        _: &[&str],
        _: Option<azure_core::credentials::TokenRequestOptions<'_>>,
    ) -> azure_core::Result<AccessToken> {
        Err(azure_core::Error::with_message(
            ErrorKind::Credential,
            "credential not built",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, body: &str) -> TokenAnswer {
        TokenAnswer::from_response(status, &http::HeaderMap::new(), body.as_bytes())
    }

    fn unparsable() -> azure_core::Error {
        azure_core::Error::with_message(ErrorKind::DataConversion, "expected a borrowed string")
    }

    const ENTRA_503: &str = r#"{"error":"temporarily_unavailable","error_description":"AADSTS90033: A transient error has occurred. Please try again.\r\nTrace ID: 1\r\nCorrelation ID: 2\r\nTimestamp: 2026-11-28 10:00:00Z","error_codes":[90033]}"#;
    const ENTRA_BAD_SECRET: &str = r#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.\r\nTrace ID: 1\r\nCorrelation ID: 2\r\nTimestamp: 2026-11-28 10:00:00Z","error_codes":[7000215]}"#;

    #[test]
    fn an_entra_outage_is_transient_even_when_azure_identity_cannot_parse_it() {
        let e = classify(&unparsable(), Some(&answer(503, ENTRA_503)));
        assert!(e.is_transient());
        assert_eq!(e.reason(), "TokenEndpointUnavailable");
        assert_eq!(
            e.to_string(),
            "could not get an Azure token: the token endpoint is unavailable (HTTP 503): \
             AADSTS90033: A transient error has occurred. Please try again.; will retry"
        );
    }

    #[test]
    fn a_refused_secret_is_terminal_and_its_message_is_stable() {
        let e = classify(&unparsable(), Some(&answer(401, ENTRA_BAD_SECRET)));
        assert!(!e.is_transient());
        assert_eq!(e.reason(), "CredentialsInvalid");
        assert!(
            e.to_string()
                .contains("AADSTS7000215: Invalid client secret provided.")
        );
        assert!(!e.to_string().contains("Trace ID"), "{e}");
    }

    #[test]
    fn throttling_proxies_and_silence_are_transient() {
        assert!(classify(&unparsable(), Some(&answer(429, "slow down"))).is_transient());
        assert!(
            classify(
                &unparsable(),
                Some(&answer(502, "<html>Bad Gateway</html>"))
            )
            .is_transient()
        );
        let silent = TokenAnswer {
            unreachable: Some("connection refused".into()),
            ..TokenAnswer::default()
        };
        let e = classify(&unparsable(), Some(&silent));
        assert!(e.is_transient());
        assert!(e.to_string().contains("connection refused"));
        // Without a record, the error kind decides.
        let io = azure_core::Error::with_message(ErrorKind::Io, "timed out");
        assert!(classify(&io, None).is_transient());
        assert!(!classify(&unparsable(), None).is_transient());
    }

    #[test]
    fn secrets_never_survive_a_message() {
        let redactions = vec![
            ("s3cr3t-value".to_owned(), "<clientSecret>".to_owned()),
            ("tenant-1234".to_owned(), "<tenantId>".to_owned()),
        ];
        assert_eq!(
            redact(
                "Tenant 'tenant-1234' not found; secret s3cr3t-value",
                &redactions
            ),
            "Tenant '<tenantId>' not found; secret <clientSecret>"
        );
    }
}
