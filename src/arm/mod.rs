//! Azure Resource Manager client for `Microsoft.Security/securityContacts`
//! (api-version 2023-12-01-preview) and subscription listing.
//!
//! Thin I/O: every decision about *what* to write is made in [`crate::plan`]. This module only
//! speaks the wire format, authenticates with an `azure_identity` credential, retries what is
//! worth retrying (honouring `Retry-After` exactly, never earlier) and bounds concurrency.

pub mod budget;
pub mod cloud;
pub mod credential;
mod error;
pub mod fresh;
pub mod metrics;
pub mod retry_after;
pub mod token;
pub mod wire;

use std::{
    sync::Arc,
    time::{Duration, Instant, SystemTime},
};

use k8s_openapi::jiff::Timestamp;

use backon::{ExponentialBuilder, Retryable};
use futures::{StreamExt, stream};
use http::{Method, StatusCode};
use url::Url;

pub use self::error::ArmError;
use self::{
    metrics::{ArmMetrics, RequestLabels},
    token::Credential,
    wire::{
        API_VERSION, CONTACT_NAME, ContactProperties, Descendant, DescendantPage, EventPage,
        PutBody, SecurityContact, Subscription, SubscriptionPage,
    },
};

/// api-version of `Microsoft.Resources` subscription listing.
pub const SUBSCRIPTIONS_API_VERSION: &str = "2022-12-01";
/// `Microsoft.Insights` Activity Log (`eventtypes/management/values`).
pub const ACTIVITY_LOG_API_VERSION: &str = "2015-04-01";
/// `Microsoft.Management` management groups (descendants), the .NET SDK's default.
pub const MANAGEMENT_GROUPS_API_VERSION: &str = "2023-04-01";

/// How hard to try before giving up on one request.
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: usize,
    pub min_delay: Duration,
    pub max_delay: Duration,
    /// The longest `Retry-After` waited out in-process. A longer one fails the request with
    /// the wait attached, so a controller can requeue instead of holding a worker.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 6,
            min_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(600),
        }
    }
}

/// Most bytes read from one response body: a contact is a few hundred bytes, a subscription
/// page a few hundred KiB; anything larger is not an answer we can use.
pub const MAX_BODY: usize = 1024 * 1024;

/// The result of a successful PUT.
#[derive(Clone, Debug, PartialEq)]
pub struct Written {
    pub contact: SecurityContact,
    /// 201: the subscription had no contact before.
    pub created: bool,
}

#[derive(Clone)]
pub struct ArmClient {
    http: reqwest::Client,
    endpoint: Url,
    scope: String,
    credential: Credential,
    retry: RetryPolicy,
    metrics: ArmMetrics,
    /// Who this client acts as ([`Identity::principal`](credential::Identity::principal)):
    /// reads are shared only between clients of the same principal, never across identities
    /// that Azure may grant different rights.
    principal: Arc<str>,
    /// The process's one request budget, shared by every client made from one connection.
    budget: Arc<budget::Budget>,
}

/// The HTTP client for ARM and token calls: per-request timeout, optional extra trusted CA.
pub fn http_client(
    timeout: Duration,
    extra_ca_pem: Option<&[u8]>,
) -> Result<reqwest::Client, ArmError> {
    let mut builder = reqwest::Client::builder()
        // ARM and Entra answer these calls directly; a redirect would be a proxy's doing, and
        // its 404 must never be read as ARM's "no contact".
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .connect_timeout(Duration::from_secs(10))
        .user_agent(concat!(
            "security-contact-operator/",
            env!("CARGO_PKG_VERSION")
        ));
    if let Some(pem) = extra_ca_pem {
        let certs =
            reqwest::Certificate::from_pem_bundle(pem).map_err(|e| ArmError::Transport {
                message: format!("unreadable CA file: {e}"),
            })?;
        builder = builder.tls_certs_merge(certs);
    }
    builder.build().map_err(|e| ArmError::from_transport(&e))
}

impl ArmClient {
    pub fn new(
        http: reqwest::Client,
        endpoint: Url,
        scope: String,
        credential: Credential,
        metrics: ArmMetrics,
    ) -> Self {
        Self {
            http,
            endpoint,
            scope,
            credential,
            retry: RetryPolicy::default(),
            metrics,
            principal: Arc::from(""),
            budget: Arc::new(budget::Budget::unlimited()),
        }
    }

    /// The same client, its requests counted against `budget` (see [`budget`]).
    pub fn with_budget(mut self, budget: Arc<budget::Budget>) -> Self {
        self.budget = budget;
        self
    }

    /// The same client, known as `principal` (see [`ArmClient::principal`]).
    pub fn with_principal(mut self, principal: impl Into<Arc<str>>) -> Self {
        self.principal = principal.into();
        self
    }

    /// The request budget this client's requests count against.
    pub fn budget(&self) -> &budget::Budget {
        &self.budget
    }

    /// Who this client acts as: a key for sharing what it read with other clients of the
    /// same identity.
    pub fn principal(&self) -> &Arc<str> {
        &self.principal
    }

    /// The same identity, HTTP client and retry rules, at another endpoint with another token
    /// scope (Microsoft Graph).
    pub fn elsewhere(&self, endpoint: Url, scope: String) -> ArmClient {
        ArmClient {
            endpoint,
            scope,
            ..self.clone()
        }
    }

    /// Microsoft Graph `GET /v1.0/organization/{tenant}` (on a client made by
    /// [`ArmClient::elsewhere`] for Graph).
    pub async fn get_organization(
        &self,
        tenant: &str,
    ) -> Result<crate::tenant::Organization, ArmError> {
        let answer = self.get(self.organization_url(tenant)?).await?;
        decode(&answer.body)
    }

    /// Microsoft Graph `PATCH /v1.0/organization/{tenant}` with `body` (204 No Content). Sent
    /// once, like a PUT: a retry would be planned from a fresh read by the caller.
    pub async fn patch_organization(
        &self,
        tenant: &str,
        body: &serde_json::Value,
    ) -> Result<(), ArmError> {
        let bytes = serde_json::to_vec(body).map_err(|e| ArmError::Decode(e.to_string()))?;
        self.attempt(
            Method::PATCH,
            self.organization_url(tenant)?,
            Some(bytes),
            None,
        )
        .await
        .map(|_| ())
    }

    fn organization_url(&self, tenant: &str) -> Result<Url, ArmError> {
        let mut url = self.endpoint.clone();
        url.path_segments_mut()
            .map_err(|()| ArmError::Decode("the Graph endpoint cannot be a base".into()))?
            .pop_if_empty()
            .extend(["v1.0", "organization", tenant]);
        Ok(url)
    }

    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    pub fn metrics(&self) -> &ArmMetrics {
        &self.metrics
    }

    fn contact_url(&self, subscription: &str) -> Url {
        let mut url = self.endpoint.clone();
        url.set_path(&format!(
            "/subscriptions/{subscription}/providers/Microsoft.Security/securityContacts/{CONTACT_NAME}"
        ));
        url.set_query(Some(&format!("api-version={API_VERSION}")));
        url
    }

    /// Asks the credential for a token (cached by the credential after the first call), so a
    /// wrong secret is reported once instead of once per subscription.
    pub async fn check_credential(&self) -> Result<(), ArmError> {
        self.credential.token(&self.scope).await.map(|_| ())
    }

    /// The subscription's contact, or `None` when it has none (GET 404 that is not about the
    /// subscription itself).
    pub async fn get_contact(
        &self,
        subscription: &str,
    ) -> Result<Option<SecurityContact>, ArmError> {
        match self.get(self.contact_url(subscription)).await {
            Ok(answer) => {
                let mut contact: SecurityContact = decode(&answer.body)?;
                // An ETag header stands in for a body etag the resource does not carry.
                if contact.etag().is_none()
                    && let Some(tag) = answer.headers.get("etag").and_then(|v| v.to_str().ok())
                {
                    contact.other.insert("etag".into(), tag.into());
                }
                Ok(Some(contact))
            }
            Err(e) if e.is_missing_contact() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Replaces the contact with exactly `properties` (PUT has no PATCH semantics), once:
    /// a PUT is never retried with the same body, because the contact may have changed while
    /// we waited. [`ArmClient::write_fresh`] retries from a fresh read instead. With `if_match`
    /// (the etag of the read it was planned from) ARM refuses the write if the contact changed.
    pub async fn put_contact(
        &self,
        subscription: &str,
        properties: &ContactProperties,
        if_match: Option<&str>,
    ) -> Result<Written, ArmError> {
        let body = serde_json::to_vec(&PutBody { properties })
            .map_err(|e| ArmError::Decode(format!("cannot encode the contact: {e}")))?;
        let answer = self
            .attempt(
                Method::PUT,
                self.contact_url(subscription),
                Some(body),
                if_match,
            )
            .await?;
        Ok(Written {
            contact: decode(&answer.body)?,
            created: answer.status == StatusCode::CREATED,
        })
    }

    /// Deletes the contact, once (see [`ArmClient::put_contact`]); `false` when there was none.
    pub async fn delete_contact(&self, subscription: &str) -> Result<bool, ArmError> {
        let answer = self
            .attempt(Method::DELETE, self.contact_url(subscription), None, None)
            .await?;
        Ok(answer.status == StatusCode::OK)
    }

    /// Every subscription the identity can see, following `nextLink`.
    pub async fn list_subscriptions(&self) -> Result<Vec<Subscription>, ArmError> {
        let mut url = self.endpoint.clone();
        url.set_path("/subscriptions");
        url.set_query(Some(&format!("api-version={SUBSCRIPTIONS_API_VERSION}")));
        let mut all = Vec::new();
        let mut next = Some(url);
        while let Some(url) = next.take() {
            let answer = self.get(url).await?;
            let page: SubscriptionPage = decode(&answer.body)?;
            all.extend(page.value);
            next = next_link(page.next_link)?;
        }
        Ok(all)
    }

    /// The last successful write (or delete) of the subscription's security contact between
    /// `from` and `to`, from the Activity Log: who made it and when (`None` when the log holds
    /// none). One query; pages are followed only until a write is found.
    pub async fn last_contact_write(
        &self,
        subscription: &str,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Option<ContactWrite>, ArmError> {
        let mut url = self.endpoint.clone();
        url.set_path(&format!(
            "/subscriptions/{subscription}/providers/Microsoft.Insights/eventtypes/management/values"
        ));
        let resource = format!(
            "/subscriptions/{subscription}/providers/Microsoft.Security/securityContacts/{CONTACT_NAME}"
        );
        let filter = format!(
            "eventTimestamp ge '{}' and eventTimestamp le '{}' and resourceUri eq '{resource}'",
            from.strftime("%Y-%m-%dT%H:%M:%SZ"),
            to.strftime("%Y-%m-%dT%H:%M:%SZ"),
        );
        url.query_pairs_mut()
            .append_pair("api-version", ACTIVITY_LOG_API_VERSION)
            .append_pair("$filter", &filter)
            .append_pair("$select", "caller,eventTimestamp,operationName,status");
        // Spaces as %20, as the Azure SDKs send them, not form encoding's '+' (a literal '+'
        // is already %2B here).
        let query = url.query().unwrap_or_default().replace('+', "%20");
        url.set_query(Some(&query));
        let mut next = Some(url);
        while let Some(url) = next.take() {
            let answer = self.get(url).await?;
            let page: EventPage = decode(&answer.body)?;
            let write = page.value.into_iter().find(|e| {
                let op = e
                    .operation_name
                    .as_ref()
                    .map(|o| o.value.to_ascii_lowercase());
                let done = e
                    .status
                    .as_ref()
                    .is_some_and(|s| s.value.eq_ignore_ascii_case("Succeeded"));
                done && op.is_some_and(|o| {
                    o == "microsoft.security/securitycontacts/write"
                        || o == "microsoft.security/securitycontacts/delete"
                })
            });
            if let Some(e) = write {
                return Ok(Some(ContactWrite {
                    caller: e.caller.unwrap_or_else(|| "an unknown caller".into()),
                    at: e.event_timestamp.unwrap_or_default(),
                }));
            }
            next = next_link(page.next_link)?;
        }
        Ok(None)
    }

    /// The ids of every subscription under management group `group`, at any depth (one
    /// `descendants` listing, following `nextLink`).
    pub async fn management_group_subscriptions(
        &self,
        group: &str,
    ) -> Result<Vec<String>, ArmError> {
        let mut url = self.endpoint.clone();
        url.path_segments_mut()
            .map_err(|()| ArmError::Decode("the ARM endpoint cannot be a base".into()))?
            .clear()
            .extend([
                "providers",
                "Microsoft.Management",
                "managementGroups",
                group,
                "descendants",
            ]);
        url.set_query(Some(&format!(
            "api-version={MANAGEMENT_GROUPS_API_VERSION}"
        )));
        let mut ids = Vec::new();
        let mut next = Some(url);
        while let Some(url) = next.take() {
            let answer = self.get(url).await?;
            let page: DescendantPage = decode(&answer.body)?;
            ids.extend(
                page.value
                    .iter()
                    .filter_map(Descendant::subscription)
                    .map(str::to_ascii_lowercase),
            );
            next = next_link(page.next_link)?;
        }
        Ok(ids)
    }

    /// Reads every subscription's contact with at most `concurrency` requests in flight;
    /// results come back in the order of `subscriptions`.
    pub async fn get_contacts(
        &self,
        subscriptions: &[String],
        concurrency: usize,
    ) -> Vec<Result<Option<SecurityContact>, ArmError>> {
        let mut results: Vec<(usize, _)> = stream::iter(subscriptions.iter().enumerate())
            .map(|(i, s)| async move { (i, self.get_contact(s).await) })
            .buffer_unordered(concurrency.max(1))
            .collect()
            .await;
        results.sort_by_key(|(i, _)| *i);
        results.into_iter().map(|(_, r)| r).collect()
    }

    /// A GET with retries: transient failures back off exponentially with jitter; a
    /// `Retry-After` is waited out exactly, up to `max_retry_after`. Only reads are retried
    /// here: a write is retried from a fresh read ([`ArmClient::write_fresh`]).
    async fn get(&self, url: Url) -> Result<Answer, ArmError> {
        let backoff = ExponentialBuilder::default()
            .with_min_delay(self.retry.min_delay)
            .with_max_delay(self.retry.max_delay)
            .with_max_times(self.retry.max_retries)
            .with_jitter();
        let max_retry_after = self.retry.max_retry_after;
        (|| self.attempt(Method::GET, url.clone(), None, None))
            .retry(backoff)
            .sleep(tokio::time::sleep)
            .when(ArmError::is_transient)
            .adjust(move |e, backoff| match (e.retry_after(), backoff) {
                // ARM's own wait wins over our backoff, but still counts against the budget.
                (Some(wait), Some(_)) if wait <= max_retry_after => Some(wait),
                (Some(_), _) => None,
                (None, backoff) => backoff,
            })
            .notify(|e, wait| self.retrying(e, wait, &format!("GET {}", url.path())))
            .await
    }

    /// Counts a retry and says why: a CLI user must see why a run pauses (a Retry-After can
    /// be minutes), hence `warn`.
    fn retrying(&self, e: &ArmError, wait: Duration, what: &str) {
        self.metrics.retries.inc();
        if e.retry_after().is_some() {
            self.metrics
                .throttled_wait_seconds
                .inc_by(wait.as_secs_f64());
        }
        tracing::warn!(
            reason = e.reason(),
            wait_ms = wait.as_millis() as u64,
            "{what}: retrying in {} ms: {e}",
            wait.as_millis()
        );
    }

    async fn attempt(
        &self,
        method: Method,
        url: Url,
        body: Option<Vec<u8>>,
        if_match: Option<&str>,
    ) -> Result<Answer, ArmError> {
        let token = self.credential.token(&self.scope).await?;
        let mut request = self
            .http
            .request(method.clone(), url.clone())
            .bearer_auth(token.token.secret())
            .header("accept", "application/json")
            .header("x-ms-client-request-id", uuid::Uuid::new_v4().to_string());
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body);
        }
        if let Some(tag) = if_match {
            request = request.header("if-match", tag);
        }
        let scope = budget::Scope::of(url.path());
        let slot = self.budget.slot(scope).await;
        let started = Instant::now();
        let outcome = request.send().await;
        if let Ok(response) = &outcome {
            self.budget
                .answered(scope, response.status(), response.headers());
        }
        drop(slot);
        self.metrics
            .duration
            .observe(started.elapsed().as_secs_f64());
        let code = match &outcome {
            Ok(r) => r.status().as_u16().to_string(),
            Err(_) => "error".to_owned(),
        };
        self.metrics
            .requests
            .get_or_create(&RequestLabels {
                method: method.to_string(),
                code,
            })
            .inc();
        let mut response = outcome.map_err(|e| ArmError::from_transport(&e))?;
        let status = response.status();
        let headers = response.headers().clone();
        let mut bytes = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| ArmError::from_transport(&e))?
        {
            if bytes.len() + chunk.len() > MAX_BODY {
                return Err(ArmError::Decode(format!(
                    "{method} {} answered {status} with a body over {} KiB; refused",
                    url.path(),
                    MAX_BODY / 1024
                )));
            }
            bytes.extend_from_slice(&chunk);
        }
        if status.is_success() {
            Ok(Answer {
                status,
                headers,
                body: bytes.into(),
            })
        } else {
            Err(ArmError::from_response(
                status,
                &headers,
                &bytes,
                SystemTime::now(),
            ))
        }
    }
}

/// A successful answer.
struct Answer {
    status: StatusCode,
    headers: http::HeaderMap,
    body: bytes::Bytes,
}

/// Who last wrote a security contact, and when (Activity Log `caller`, `eventTimestamp`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ContactWrite {
    pub caller: String,
    pub at: String,
}

impl std::fmt::Display for ContactWrite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // "2026-11-28T10:02:13.1234567Z" reads as "10:02 UTC on 2026-11-28".
        match (self.at.get(..10), self.at.get(11..16)) {
            (Some(day), Some(hm)) => write!(f, "{} at {hm} UTC on {day}", self.caller),
            _ => write!(f, "{}", self.caller),
        }
    }
}

/// The next page, if ARM gave one.
fn next_link(link: Option<String>) -> Result<Option<Url>, ArmError> {
    match link.filter(|l| !l.is_empty()) {
        Some(link) => Url::parse(&link)
            .map(Some)
            .map_err(|e| ArmError::Decode(format!("bad nextLink {link:?}: {e}"))),
        None => Ok(None),
    }
}

fn decode<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ArmError> {
    serde_json::from_slice(body).map_err(|e| {
        let shown = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
        ArmError::Decode(format!("{e} in {shown:?}"))
    })
}
