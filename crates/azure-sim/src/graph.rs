//! The slice of Microsoft Graph v1.0 that holds a tenant's notification contacts: the
//! `organization` resource (<https://learn.microsoft.com/graph/api/resources/organization>).
//!
//! | request | answer |
//! |---|---|
//! | `GET /v1.0/organization` | 200 `{"@odata.context": …, "value": [organization]}`: the token's tenant |
//! | `GET /v1.0/organization/{id}` | 200 organization (`id` = the token's tenant, any case) |
//! | `PATCH /v1.0/organization/{id}` | 204; body: any of `technicalNotificationMails`, `securityComplianceNotificationMails`, `securityComplianceNotificationPhones`, `marketingNotificationEmails`, `privacyProfile` |
//!
//! `$select` (comma-separated property names) trims a GET's objects. Every answer carries
//! `request-id` and `client-request-id` (the client's, else the request id), as Graph's do.
//!
//! Checks, in order, and the answers (all in Graph's error shape
//! `{"error": {"code", "message", "innerError": {"date", "request-id", "client-request-id"}}}`):
//!
//! | failure | answer | source |
//! |---|---|---|
//! | no or malformed `Authorization` | 401 `InvalidAuthenticationToken` "Access token is empty." | widely reported Graph answer; UNVERIFIED here |
//! | unknown token | 401 `InvalidAuthenticationToken` "Access token validation failure." | UNVERIFIED (real Graph parses a JWT and names what is wrong with it) |
//! | expired token | 401 `InvalidAuthenticationToken` "Lifetime validation failed, the token is expired." | s1t5/mail-archiver#267 |
//! | an ARM token | 401 `InvalidAuthenticationToken` "Access token validation failure. Invalid audience." | microsoftgraph/microsoft-graph-docs#16208, oauth2-proxy/oauth2-proxy#2517 |
//! | method other than GET (collection) or GET/PATCH (entity) | 405 `Request_BadRequest` "Specified HTTP method is not allowed for the request target." | microsoftgraph/microsoft-graph-docs#12981 (message); code UNVERIFIED |
//! | no read permission (`Organization.Read.All`, `Organization.ReadWrite.All`, `Directory.Read.All`, `Directory.ReadWrite.All`) or, for PATCH, no `Organization.ReadWrite.All` | 403 `Authorization_RequestDenied` "Insufficient privileges to complete the operation." | permissions: <https://learn.microsoft.com/graph/api/organization-get>, <https://learn.microsoft.com/graph/api/organization-update>; error: <https://learn.microsoft.com/graph/errors> |
//! | `{id}` not the token's tenant | 404 `Request_ResourceNotFound` "Resource '{id}' does not exist or one of its queried reference-property objects are not present." | microsoftgraph/microsoft-graph-docs-contrib#6431 (for another directory object; for `organization` UNVERIFIED) |
//! | body not a JSON object | 400 `BadRequest` "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format." | UNVERIFIED |
//! | a property that is not updatable (unknown or read-only, e.g. `displayName`) | 400 `Request_BadRequest` "Invalid property '{name}'." | pnp/PnP-Sites-Core#1807 (for a group); for `organization` and for read-only properties UNVERIFIED |
//! | a value of the wrong type, or a malformed e-mail address in a mail list | 400 `Request_BadRequest` "Invalid value specified for property '{name}' of resource 'Organization'." | the directory's wording for users and applications (e.g. "… of resource 'User'."); for `organization` UNVERIFIED, and whether Graph checks the addresses at all UNVERIFIED |
//!
//! `onPremisesSyncEnabled` and `partnerTenantType`, which the documentation also lists as
//! updatable, are not simulated and get the 400 of a read-only property.
//!
//! Tokens carry the principal's application permissions as `roles` when they are issued; a
//! grant changed afterwards is seen with the next token, as with real JWTs.
//! Graph is not subject to ARM's token buckets; a fault storm scoped to the
//! `graphOrganization` route answers Graph's 429 (`TooManyRequests`, `Retry-After`).

use std::time::SystemTime;

use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use serde_json::{Map, Value, json};

use super::activity_log::Actor;
use super::clock;
use super::config::{GRAPH_APP_ID, OrganizationSeed};
use super::state::Shared;
use super::tokens::{Audience, Identity, TokenRejection};

/// Permissions that let an application read the organization (least privileged first).
pub(crate) const READ_PERMISSIONS: [&str; 4] = [
    "Organization.Read.All",
    "Organization.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
];

/// The only application permission that lets an application update the organization.
pub(crate) const WRITE_PERMISSIONS: [&str; 1] = ["Organization.ReadWrite.All"];

const ODATA_JSON: &str = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8";

/// The updatable list properties: (name, holds e-mail addresses).
const LISTS: [(&str, bool); 4] = [
    ("technicalNotificationMails", true),
    ("securityComplianceNotificationMails", true),
    ("securityComplianceNotificationPhones", false),
    ("marketingNotificationEmails", true),
];

/// A tenant's organization, as the simulator keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Organization {
    pub(crate) display_name: String,
    /// By name, the four lists of [`LISTS`].
    pub(crate) lists: [Vec<String>; 4],
    /// `privacyProfile`: `null` or `{"contactEmail", "statementUrl"}`.
    pub(crate) privacy_profile: Value,
    pub(crate) verified_domains: Vec<String>,
}

impl Organization {
    pub(crate) fn from_seed(tenant_id: &str, seed: &OrganizationSeed) -> Organization {
        Organization {
            display_name: seed
                .display_name
                .clone()
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| tenant_id.to_owned()),
            lists: [
                seed.technical_notification_mails.clone(),
                seed.security_compliance_notification_mails.clone(),
                seed.security_compliance_notification_phones.clone(),
                seed.marketing_notification_emails.clone(),
            ],
            privacy_profile: Value::Null,
            verified_domains: if seed.verified_domains.is_empty() {
                vec![format!("{}.onmicrosoft.com", tenant_id.replace('-', ""))]
            } else {
                seed.verified_domains.clone()
            },
        }
    }

    /// The resource as Graph v1.0 serves it: the kept properties, and the others of the
    /// documented shape as unset.
    pub(crate) fn resource(&self, tenant_id: &str) -> Value {
        let domains: Vec<Value> = self
            .verified_domains
            .iter()
            .enumerate()
            .map(|(i, name)| {
                json!({
                    "capabilities": if i == 0 { "Email, OfficeCommunicationsOnline" } else { "None" },
                    "isDefault": i == 0,
                    "isInitial": i == 0,
                    "name": name,
                    "type": "Managed",
                })
            })
            .collect();
        let mut org = json!({
            "id": tenant_id,
            "deletedDateTime": null,
            "businessPhones": [],
            "city": null,
            "country": null,
            "countryLetterCode": null,
            "createdDateTime": null,
            "defaultUsageLocation": null,
            "displayName": self.display_name,
            "onPremisesLastSyncDateTime": null,
            "onPremisesSyncEnabled": null,
            "partnerTenantType": null,
            "postalCode": null,
            "preferredLanguage": "en",
            "privacyProfile": self.privacy_profile,
            "state": null,
            "street": null,
            "tenantType": "AAD",
            "assignedPlans": [],
            "provisionedPlans": [],
            "verifiedDomains": domains,
        });
        for ((name, _), list) in LISTS.iter().zip(&self.lists) {
            org[*name] = json!(list);
        }
        org
    }

    /// Applies `changes` (a JSON object) to a copy and returns it with the names changed.
    /// Graph accepts the updatable properties only, with well-formed addresses; the control
    /// API (`control`) also sets `displayName` and `verifiedDomains` and takes any strings.
    pub(crate) fn patched(
        &self,
        changes: &Value,
        control: bool,
    ) -> Result<(Organization, Vec<String>), PatchError> {
        let Value::Object(changes) = changes else {
            return Err(PatchError::NotAnObject);
        };
        let mut next = self.clone();
        let mut changed = Vec::new();
        for (name, value) in changes {
            if name.starts_with("@odata.") {
                continue;
            }
            let invalid = || PatchError::InvalidValue(name.clone());
            if let Some(i) = LISTS.iter().position(|(list, _)| list == name) {
                let emails = LISTS[i].1 && !control;
                next.lists[i] = strings(value, emails).ok_or_else(invalid)?;
            } else if name == "privacyProfile" {
                next.privacy_profile = privacy_profile(value, control).ok_or_else(invalid)?;
            } else if control && name == "displayName" {
                next.display_name = value
                    .as_str()
                    .filter(|n| !n.is_empty())
                    .ok_or_else(invalid)?
                    .to_owned();
            } else if control && name == "verifiedDomains" {
                next.verified_domains = strings(value, false)
                    .filter(|d| !d.is_empty() && d.iter().all(|n| !n.is_empty()))
                    .ok_or_else(invalid)?;
            } else {
                return Err(PatchError::InvalidProperty(name.clone()));
            }
            changed.push(name.clone());
        }
        Ok((next, changed))
    }
}

/// Why a change was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PatchError {
    NotAnObject,
    InvalidProperty(String),
    InvalidValue(String),
}

impl std::fmt::Display for PatchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PatchError::NotAnObject => write!(f, "the organization changes must be a JSON object"),
            PatchError::InvalidProperty(name) => write!(f, "{name} cannot be set"),
            PatchError::InvalidValue(name) => write!(f, "invalid value for {name}"),
        }
    }
}

/// A list of strings (each a plausible e-mail address when `emails`).
fn strings(value: &Value, emails: bool) -> Option<Vec<String>> {
    value
        .as_array()?
        .iter()
        .map(|v| {
            v.as_str()
                .filter(|s| !emails || is_email(s))
                .map(str::to_owned)
        })
        .collect()
}

/// `local@domain.tld` without spaces or list separators: the shape any SMTP address has.
pub(crate) fn is_email(text: &str) -> bool {
    let Some((local, domain)) = text.split_once('@') else {
        return false;
    };
    let clean = |s: &str| {
        !s.is_empty()
            && !s
                .chars()
                .any(|c| c.is_whitespace() || matches!(c, '@' | ',' | ';' | '<' | '>'))
    };
    clean(local)
        && clean(domain)
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
}

/// `privacyProfile`: `null`, or an object with `contactEmail` and/or `statementUrl` (strings or
/// `null`).
fn privacy_profile(value: &Value, control: bool) -> Option<Value> {
    match value {
        Value::Null => Some(Value::Null),
        Value::Object(fields) => {
            let mut profile = json!({"contactEmail": null, "statementUrl": null});
            for (key, field) in fields {
                match (key.as_str(), field) {
                    ("contactEmail", Value::String(email)) if control || is_email(email) => {}
                    ("statementUrl", Value::String(_)) => {}
                    ("contactEmail" | "statementUrl", Value::Null) => {}
                    _ => return None,
                }
                profile[key.as_str()] = field.clone();
            }
            Some(profile)
        }
        _ => None,
    }
}

/// A change to an organization, as the simulator records it.
#[derive(Debug, Clone)]
pub(crate) struct OrganizationWriteRecord {
    pub(crate) actor: Actor,
    pub(crate) at: SystemTime,
    pub(crate) properties: Vec<String>,
}

impl OrganizationWriteRecord {
    pub(crate) fn public(&self) -> OrganizationWrite {
        OrganizationWrite {
            caller: self.actor.caller().to_owned(),
            client_id: match &self.actor {
                Actor::App { client_id, .. } => Some(client_id.clone()),
                Actor::User { .. } => None,
            },
            at: self.at,
            properties: self.properties.clone(),
        }
    }
}

/// A recorded change to a tenant's organization, as
/// [`crate::SimState::organization_writes`] returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrganizationWrite {
    /// A service principal's object id (Graph `PATCH`), or a person's name (control API).
    pub caller: String,
    /// The application (client) id, for a change made through Graph.
    pub client_id: Option<String>,
    pub at: SystemTime,
    /// The properties set, in the order given.
    pub properties: Vec<String>,
}

/// The ids a Graph answer carries.
struct RequestIds {
    request_id: String,
    client_request_id: String,
}

impl RequestIds {
    fn of(headers: &HeaderMap) -> RequestIds {
        let request_id = uuid::Uuid::new_v4().to_string();
        let client_request_id = headers
            .get("client-request-id")
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty())
            .map_or_else(|| request_id.clone(), str::to_owned);
        RequestIds {
            request_id,
            client_request_id,
        }
    }

    fn stamp(&self, mut response: Response) -> Response {
        let headers = response.headers_mut();
        for (name, value) in [
            ("request-id", &self.request_id),
            ("client-request-id", &self.client_request_id),
        ] {
            if let Ok(value) = HeaderValue::from_str(value) {
                headers.insert(HeaderName::from_static(name), value);
            }
        }
        response
    }
}

/// A Graph error about to be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GraphError {
    pub(crate) status: StatusCode,
    pub(crate) code: &'static str,
    pub(crate) message: String,
    headers: Vec<(&'static str, String)>,
}

impl GraphError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> GraphError {
        GraphError {
            status,
            code,
            message: message.into(),
            headers: Vec::new(),
        }
    }

    fn unauthorized(shared: &Shared, message: &str) -> GraphError {
        let mut error = GraphError::new(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            message,
        );
        error.headers.push((
            "www-authenticate",
            format!(
                "Bearer realm=\"\", authorization_uri=\"{}common/oauth2/authorize\", client_id=\"{GRAPH_APP_ID}\"",
                shared.base_url
            ),
        ));
        error
    }

    fn denied() -> GraphError {
        GraphError::new(
            StatusCode::FORBIDDEN,
            "Authorization_RequestDenied",
            "Insufficient privileges to complete the operation.",
        )
    }

    fn not_found(id: &str) -> GraphError {
        GraphError::new(
            StatusCode::NOT_FOUND,
            "Request_ResourceNotFound",
            format!(
                "Resource '{id}' does not exist or one of its queried reference-property objects are not present."
            ),
        )
    }

    fn method_not_allowed() -> GraphError {
        GraphError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "Request_BadRequest",
            "Specified HTTP method is not allowed for the request target.",
        )
    }

    fn patch(error: PatchError) -> GraphError {
        match error {
            PatchError::NotAnObject => GraphError::new(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.",
            ),
            PatchError::InvalidProperty(name) => GraphError::new(
                StatusCode::BAD_REQUEST,
                "Request_BadRequest",
                format!("Invalid property '{name}'."),
            ),
            PatchError::InvalidValue(name) => GraphError::new(
                StatusCode::BAD_REQUEST,
                "Request_BadRequest",
                format!(
                    "Invalid value specified for property '{name}' of resource 'Organization'."
                ),
            ),
        }
    }

    /// An injected 429: the directory's throttling answer (code `TooManyRequests`, a
    /// `Retry-After` in seconds), as quoted in learn.microsoft.com Q&A 1138873 and described in
    /// <https://learn.microsoft.com/graph/throttling>.
    pub(crate) fn throttled(retry_after_secs: u64) -> GraphError {
        let mut error = GraphError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "TooManyRequests",
            "Too many requests from Identifier:simulator under category:throttle.aad.ags.directory. Please try again later.",
        );
        error
            .headers
            .push(("retry-after", retry_after_secs.to_string()));
        error
    }

    /// An injected 500 or 503, with codes from <https://learn.microsoft.com/graph/errors>.
    pub(crate) fn server_error(status: u16) -> GraphError {
        if status == 503 {
            GraphError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "serviceNotAvailable",
                "The service is temporarily unavailable. Please try again later.",
            )
        } else {
            GraphError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "generalException",
                "An unspecified error has occurred.",
            )
        }
    }

    fn into_response(self, ids: &RequestIds) -> Response {
        let body = json!({
            "error": {
                "code": self.code,
                "message": self.message,
                "innerError": {
                    "date": clock::graph_date(SystemTime::now()),
                    "request-id": ids.request_id,
                    "client-request-id": ids.client_request_id,
                },
            },
        });
        let mut response = (self.status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        for (name, value) in &self.headers {
            if let Ok(value) = HeaderValue::from_str(value) {
                headers.insert(*name, value);
            }
        }
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        ids.stamp(response)
    }

    /// Renders the error for a request (fault injection).
    pub(crate) fn render(self, headers: &HeaderMap) -> Response {
        self.into_response(&RequestIds::of(headers))
    }
}

fn authenticate(shared: &Shared, headers: &HeaderMap) -> Result<Identity, GraphError> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .filter(|token| !token.is_empty())
        .ok_or_else(|| GraphError::unauthorized(shared, "Access token is empty."))?;
    let identity = shared
        .tokens
        .validate(token, SystemTime::now())
        .map_err(|rejection| match rejection {
            TokenRejection::Unknown => {
                GraphError::unauthorized(shared, "Access token validation failure.")
            }
            TokenRejection::Expired { .. } => GraphError::unauthorized(
                shared,
                "Lifetime validation failed, the token is expired.",
            ),
        })?;
    if identity.audience != Audience::Graph {
        return Err(GraphError::unauthorized(
            shared,
            "Access token validation failure. Invalid audience.",
        ));
    }
    Ok(identity)
}

fn holds(identity: &Identity, permissions: &[&str]) -> bool {
    identity
        .roles
        .iter()
        .any(|role| permissions.iter().any(|p| p.eq_ignore_ascii_case(role)))
}

fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    url::form_urlencoded::parse(query?.as_bytes())
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .map(|(_, value)| value.into_owned())
}

fn ok_json(body: &Value) -> Response {
    let mut response = (StatusCode::OK, axum::Json(body)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(ODATA_JSON));
    headers.insert(
        HeaderName::from_static("odata-version"),
        HeaderValue::from_static("4.0"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// Keeps the `$select`ed properties of an organization.
fn select(org: Value, selected: &[String]) -> Value {
    if selected.is_empty() {
        return org;
    }
    match org {
        Value::Object(fields) => Value::Object(
            fields
                .into_iter()
                .filter(|(key, _)| selected.iter().any(|s| s.eq_ignore_ascii_case(key)))
                .collect::<Map<String, Value>>(),
        ),
        other => other,
    }
}

/// The parts of a request the Graph handlers look at.
pub(crate) struct GraphRequest<'a> {
    pub(crate) method: &'a Method,
    pub(crate) query: Option<&'a str>,
    pub(crate) headers: &'a HeaderMap,
    pub(crate) body: &'a [u8],
}

/// Serves `/v1.0/organization` (`id: None`) and `/v1.0/organization/{id}`.
pub(crate) fn handle(shared: &Shared, id: Option<&str>, request: &GraphRequest<'_>) -> Response {
    let ids = RequestIds::of(request.headers);
    match serve(shared, id, request) {
        Ok(response) => ids.stamp(response),
        Err(error) => error.into_response(&ids),
    }
}

fn serve(
    shared: &Shared,
    id: Option<&str>,
    request: &GraphRequest<'_>,
) -> Result<Response, GraphError> {
    let caller = authenticate(shared, request.headers)?;
    let write = match (id, request.method) {
        (_, &Method::GET) => false,
        (Some(_), &Method::PATCH) => true,
        _ => return Err(GraphError::method_not_allowed()),
    };
    let allowed = if write {
        holds(&caller, &WRITE_PERMISSIONS)
    } else {
        holds(&caller, &READ_PERMISSIONS)
    };
    if !allowed {
        return Err(GraphError::denied());
    }
    if let Some(id) = id
        && !id.eq_ignore_ascii_case(&caller.tenant_id)
    {
        return Err(GraphError::not_found(id));
    }
    let mut world = shared.world();
    let tenant = world
        .tenant_mut(&caller.tenant_id)
        .ok_or_else(|| GraphError::not_found(&caller.tenant_id))?;
    if write {
        let changes: Value = serde_json::from_slice(request.body)
            .map_err(|_| GraphError::patch(PatchError::NotAnObject))?;
        let (next, properties) = tenant
            .organization
            .patched(&changes, false)
            .map_err(GraphError::patch)?;
        tenant.organization = next;
        tenant.record_organization_write(OrganizationWriteRecord {
            actor: Actor::App {
                object_id: caller.object_id.clone(),
                client_id: caller.client_id.clone(),
                appidacr: caller.appidacr,
            },
            at: SystemTime::now(),
            properties,
        });
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let selected: Vec<String> = query_param(request.query, "$select")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    let org = select(tenant.organization.resource(&tenant.id), &selected);
    let context = format!(
        "{}v1.0/$metadata#organization{}",
        shared.base_url,
        if selected.is_empty() {
            String::new()
        } else {
            format!("({})", selected.join(","))
        }
    );
    let body = match (id, org) {
        (Some(_), Value::Object(mut fields)) => {
            let mut entity = Map::new();
            entity.insert(
                "@odata.context".to_owned(),
                Value::String(format!("{context}/$entity")),
            );
            entity.append(&mut fields);
            Value::Object(entity)
        }
        (_, org) => json!({ "@odata.context": context, "value": [org] }),
    };
    Ok(ok_json(&body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn org() -> Organization {
        Organization::from_seed(
            "aaaaaaaa-0000-0000-0000-000000000001",
            &OrganizationSeed {
                technical_notification_mails: vec!["it@contoso.com".into()],
                ..OrganizationSeed::default()
            },
        )
    }

    #[test]
    fn seeds_default_the_name_and_the_initial_domain() {
        let org = org();
        assert_eq!(org.display_name, "aaaaaaaa-0000-0000-0000-000000000001");
        let resource = org.resource("aaaaaaaa-0000-0000-0000-000000000001");
        assert_eq!(
            resource["technicalNotificationMails"],
            json!(["it@contoso.com"])
        );
        assert_eq!(resource["securityComplianceNotificationMails"], json!([]));
        assert_eq!(
            resource["verifiedDomains"][0]["name"],
            "aaaaaaaa000000000000000000000001.onmicrosoft.com"
        );
        assert_eq!(resource["verifiedDomains"][0]["isInitial"], true);
        assert!(resource["privacyProfile"].is_null());
    }

    #[test]
    fn patches_only_updatable_properties_with_valid_values() {
        let org = org();
        let (next, changed) = org
            .patched(
                &json!({
                    "@odata.type": "#microsoft.graph.organization",
                    "securityComplianceNotificationMails": ["soc@contoso.com"],
                    "securityComplianceNotificationPhones": ["+1 555 0100"],
                    "privacyProfile": {"contactEmail": "privacy@contoso.com"},
                }),
                false,
            )
            .expect("valid");
        assert_eq!(next.lists[1], ["soc@contoso.com"]);
        assert_eq!(next.lists[0], ["it@contoso.com"], "untouched");
        assert_eq!(
            next.privacy_profile,
            json!({"contactEmail": "privacy@contoso.com", "statementUrl": null})
        );
        assert_eq!(changed.len(), 3);
        for (body, expected) in [
            (
                json!({"displayName": "X"}),
                PatchError::InvalidProperty("displayName".into()),
            ),
            (
                json!({"nope": 1}),
                PatchError::InvalidProperty("nope".into()),
            ),
            (
                json!({"technicalNotificationMails": ["not-an-address"]}),
                PatchError::InvalidValue("technicalNotificationMails".into()),
            ),
            (
                json!({"technicalNotificationMails": "a@contoso.com"}),
                PatchError::InvalidValue("technicalNotificationMails".into()),
            ),
            (
                json!({"marketingNotificationEmails": ["a@contoso.com; b@contoso.com"]}),
                PatchError::InvalidValue("marketingNotificationEmails".into()),
            ),
            (
                json!({"privacyProfile": {"contactEmail": 3}}),
                PatchError::InvalidValue("privacyProfile".into()),
            ),
            (json!([]), PatchError::NotAnObject),
        ] {
            assert_eq!(org.patched(&body, false), Err(expected), "{body}");
        }
        // The control API may also rename and set anything string-shaped.
        let (next, _) = org
            .patched(
                &json!({"displayName": "Contoso", "technicalNotificationMails": ["odd value"]}),
                true,
            )
            .expect("control");
        assert_eq!(
            (next.display_name.as_str(), next.lists[0][0].as_str()),
            ("Contoso", "odd value")
        );
    }

    #[test]
    fn email_shapes() {
        for good in ["a@contoso.com", "first.last+tag@sub.contoso.co.uk"] {
            assert!(is_email(good), "{good}");
        }
        for bad in [
            "",
            "a",
            "a@",
            "@contoso.com",
            "a@contoso",
            "a b@contoso.com",
            "a@@contoso.com",
            "a@contoso.com,b@contoso.com",
            "a@.com",
        ] {
            assert!(!is_email(bad), "{bad}");
        }
    }
}
