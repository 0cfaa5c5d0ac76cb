//! The Entra ID token endpoint, `POST /{tenant}/oauth2/v2.0/token`, for the two client
//! credential flows `azure_identity` 1.0 uses (`azure_identity` 1.0's `client_secret_credential.rs`, `client_assertion_credential.rs` and its Entra response handling):
//!
//! * client secret: `client_id, client_secret, grant_type=client_credentials, scope`;
//! * client assertion (workload identity): `client_assertion,
//!   client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer, client_id,
//!   grant_type, scope`. Assertions are accepted when they equal one of the principal's
//!   `federatedAssertions` verbatim (no JWT validation).
//!
//! Errors have Entra's exact shape (`error`, `error_description` starting with `AADSTSnnn:`,
//! `error_codes`, `timestamp`, `trace_id`, `correlation_id`, `error_uri`), because
//! `azure_identity` turns `error_description` into the error message and `error_codes` into the
//! error code. Secrets, assertions and tokens are never logged or echoed.

use std::time::SystemTime;

use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};

use super::clock;
use super::state::Shared;
use super::tokens::Identity;

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// An Entra error about to be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EntraError {
    status: StatusCode,
    error: &'static str,
    code: u32,
    description: String,
}

impl EntraError {
    fn new(status: StatusCode, error: &'static str, code: u32, description: String) -> EntraError {
        EntraError {
            status,
            error,
            code,
            description,
        }
    }

    fn unknown_tenant(tenant: &str) -> EntraError {
        EntraError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            90002,
            format!(
                "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant."
            ),
        )
    }

    fn missing_parameter(name: &str) -> EntraError {
        EntraError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            900144,
            format!("The request body must contain the following parameter: '{name}'."),
        )
    }

    fn unknown_client(client_id: &str, tenant: &str) -> EntraError {
        EntraError::new(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            700016,
            format!(
                "Application with identifier '{client_id}' was not found in the directory '{tenant}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant."
            ),
        )
    }

    fn bad_secret(client_id: &str) -> EntraError {
        EntraError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000215,
            format!(
                "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{client_id}'."
            ),
        )
    }

    fn no_credential() -> EntraError {
        EntraError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.".into(),
        )
    }

    fn unmatched_assertion() -> EntraError {
        EntraError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            70021,
            "No matching federated identity record found for presented assertion.".into(),
        )
    }

    fn bad_assertion_type() -> EntraError {
        EntraError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            70002,
            format!("Client assertion type must be '{JWT_BEARER}'."),
        )
    }

    fn unsupported_grant(grant: &str) -> EntraError {
        EntraError::new(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            70003,
            format!("The app requested an unsupported grant type '{grant}'."),
        )
    }

    fn invalid_scope(scope: &str) -> EntraError {
        EntraError::new(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            1002012,
            format!(
                "The provided value for scope {scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."
            ),
        )
    }

    fn unknown_resource(resource: &str, tenant: &str) -> EntraError {
        EntraError::new(
            StatusCode::BAD_REQUEST,
            "invalid_resource",
            500011,
            format!(
                "The resource principal named {resource} was not found in the tenant named {tenant}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant."
            ),
        )
    }

    fn post_only() -> EntraError {
        EntraError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            900561,
            "The endpoint only accepts POST requests. Received a GET request.".into(),
        )
    }

    fn into_response(self, base_url: &url::Url, correlation_id: &str) -> Response {
        let trace_id = uuid::Uuid::new_v4().to_string();
        let timestamp = clock::entra_timestamp(SystemTime::now());
        // Entra appends the ids to the description, CRLF-separated.
        let description = format!(
            "AADSTS{}: {}\r\nTrace ID: {trace_id}\r\nCorrelation ID: {correlation_id}\r\nTimestamp: {timestamp}",
            self.code, self.description
        );
        let body = serde_json::json!({
            "error": self.error,
            "error_description": description,
            "error_codes": [self.code],
            "timestamp": timestamp,
            "trace_id": trace_id,
            "correlation_id": correlation_id,
            "error_uri": format!("{base_url}error?code={}", self.code),
        });
        json_response(self.status, &body)
    }

    /// A transient failure, for injected faults on the token route.
    pub(crate) fn transient(status: u16) -> EntraError {
        EntraError::new(
            StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE),
            "temporarily_unavailable",
            90033,
            "A transient error has occurred. Please try again.".into(),
        )
    }

    /// Renders an error outside the token handler (fault injection).
    pub(crate) fn render(self, shared: &Shared, headers: &HeaderMap) -> Response {
        self.into_response(&shared.base_url, &correlation_id(headers))
    }
}

fn json_response(status: StatusCode, body: &serde_json::Value) -> Response {
    let mut response = (status, axum::Json(body)).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-store, no-cache"),
    );
    response
}

/// Entra reports the caller's `client-request-id` as the correlation id.
fn correlation_id(headers: &HeaderMap) -> String {
    ["client-request-id", "x-ms-client-request-id"]
        .iter()
        .find_map(|name| headers.get(*name)?.to_str().ok())
        .and_then(|value| uuid::Uuid::parse_str(value).ok())
        .unwrap_or_else(uuid::Uuid::new_v4)
        .to_string()
}

/// The form fields of a token request.
#[derive(Default)]
struct TokenForm {
    grant_type: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    client_assertion: Option<String>,
    client_assertion_type: Option<String>,
    scope: Option<String>,
}

impl TokenForm {
    fn parse(body: &[u8]) -> TokenForm {
        let mut form = TokenForm::default();
        for (key, value) in url::form_urlencoded::parse(body) {
            let slot = match key.as_ref() {
                "grant_type" => &mut form.grant_type,
                "client_id" => &mut form.client_id,
                "client_secret" => &mut form.client_secret,
                "client_assertion" => &mut form.client_assertion,
                "client_assertion_type" => &mut form.client_assertion_type,
                "scope" => &mut form.scope,
                _ => continue,
            };
            *slot = Some(value.into_owned()).filter(|v| !v.is_empty());
        }
        form
    }
}

/// Serves one token request.
pub(crate) fn token(
    shared: &Shared,
    tenant: &str,
    method: &Method,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    let correlation = correlation_id(headers);
    match issue(shared, tenant, method, body) {
        Ok(token) => {
            let lifetime = shared.token_lifetime.as_secs();
            let body = serde_json::json!({
                "token_type": "Bearer",
                "expires_in": lifetime,
                "ext_expires_in": lifetime,
                "access_token": token,
            });
            json_response(StatusCode::OK, &body)
        }
        Err(error) => {
            tracing::debug!(
                tenant,
                code = error.code,
                "simulated Entra refused a token request"
            );
            error.into_response(&shared.base_url, &correlation)
        }
    }
}

fn issue(
    shared: &Shared,
    tenant: &str,
    method: &Method,
    body: &[u8],
) -> Result<String, EntraError> {
    if method != Method::POST {
        return Err(EntraError::post_only());
    }
    let form = TokenForm::parse(body);
    let world = shared.world();
    let tenant_seed = world
        .tenant(tenant)
        .ok_or_else(|| EntraError::unknown_tenant(tenant))?;
    let grant = form
        .grant_type
        .as_deref()
        .ok_or_else(|| EntraError::missing_parameter("grant_type"))?;
    if grant != "client_credentials" {
        return Err(EntraError::unsupported_grant(grant));
    }
    let client_id = form
        .client_id
        .as_deref()
        .ok_or_else(|| EntraError::missing_parameter("client_id"))?;
    let principal = world
        .principal(&tenant_seed.id, client_id)
        .ok_or_else(|| EntraError::unknown_client(client_id, tenant))?;
    let scope = form
        .scope
        .as_deref()
        .ok_or_else(|| EntraError::missing_parameter("scope"))?;
    check_scope(scope, &shared.arm_audience, tenant)?;

    match (&form.client_secret, &form.client_assertion) {
        (Some(secret), _) => {
            if principal.client_secret.as_deref() != Some(secret.as_str()) {
                return Err(EntraError::bad_secret(client_id));
            }
        }
        (None, Some(assertion)) => {
            if form.client_assertion_type.as_deref() != Some(JWT_BEARER) {
                return Err(EntraError::bad_assertion_type());
            }
            if !principal
                .federated_assertions
                .iter()
                .any(|a| a == assertion)
            {
                return Err(EntraError::unmatched_assertion());
            }
        }
        (None, None) => return Err(EntraError::no_credential()),
    }

    let identity = Identity {
        tenant_id: tenant_seed.id.clone(),
        client_id: principal.client_id.clone(),
        object_id: principal.object_id.clone(),
    };
    drop(world);
    tracing::debug!(tenant, client_id, "simulated Entra issued a token");
    Ok(shared.tokens.issue(identity, shared.token_lifetime))
}

/// Only `<audience>/.default` (one scope) is a valid client-credentials scope for ARM; Entra
/// also accepts the doubled slash some SDKs send.
fn check_scope(scope: &str, audience: &str, tenant: &str) -> Result<(), EntraError> {
    let Some(resource) = scope.strip_suffix("/.default") else {
        return Err(EntraError::invalid_scope(scope));
    };
    if resource.contains(' ') {
        return Err(EntraError::invalid_scope(scope));
    }
    if resource.trim_end_matches('/') != audience {
        return Err(EntraError::unknown_resource(resource, tenant));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARM: &str = "https://management.azure.com";

    #[test]
    fn scopes() {
        assert!(check_scope("https://management.azure.com/.default", ARM, "t").is_ok());
        assert!(check_scope("https://management.azure.com//.default", ARM, "t").is_ok());
        let wrong_form = check_scope("https://management.azure.com/user_impersonation", ARM, "t");
        assert_eq!(wrong_form.map_err(|e| e.error), Err("invalid_scope"));
        let wrong_resource = check_scope("https://graph.microsoft.com/.default", ARM, "t");
        assert_eq!(wrong_resource.map_err(|e| e.code), Err(500011));
    }

    #[test]
    fn form_parsing_ignores_unknown_and_empty_fields() {
        let form = TokenForm::parse(
            b"client_id=abc&client_secret=&grant_type=client_credentials&scope=https%3A%2F%2Fmanagement.azure.com%2F.default&x=y",
        );
        assert_eq!(form.client_id.as_deref(), Some("abc"));
        assert_eq!(form.client_secret, None);
        assert_eq!(
            form.scope.as_deref(),
            Some("https://management.azure.com/.default")
        );
    }

    #[test]
    fn error_body_has_entra_shape() {
        let base = url::Url::parse("https://127.0.0.1:1/").expect("url");
        let response = EntraError::bad_secret("app").into_response(&base, "corr");
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
}
