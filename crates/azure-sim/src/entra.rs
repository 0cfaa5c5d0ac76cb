//! The Entra ID token endpoint, `POST /{tenant}/oauth2/v2.0/token`, for the two client
//! credential flows `azure_identity` 1.0 uses (`azure_identity` 1.0's `client_secret_credential.rs`, `client_assertion_credential.rs` and its Entra response handling):
//!
//! * client secret: `client_id, client_secret, grant_type=client_credentials, scope`;
//! * client assertion (workload identity federation): `client_assertion,
//!   client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer, client_id,
//!   grant_type, scope`. The assertion is a JWT from an external OIDC issuer (e.g. a projected
//!   Kubernetes service-account token), checked against the principal's federated identity
//!   credentials the way Entra does (`federation.rs`): the credentials whose `issuer` equals
//!   the token's `iss` exactly; the signature, with the key of the issuer's JWKS (config
//!   `oidcIssuers` or `PUT /_sim/oidc-issuers`) that the header's `kid` names; `exp`/`nbf`
//!   against the simulator's clock; then a credential with `subject == sub` exactly whose
//!   `audiences` contain one of the token's `aud` values. Each failure gets the code and text
//!   real Entra answers with (below, with sources).
//!
//! The scope must be `<resource>/.default`, the resource ARM (`SimConfig::arm_audience`) or
//! Microsoft Graph (`https://graph.microsoft.com`, or Graph's application id
//! `00000003-0000-0000-c000-000000000000`); the token remembers which, and for Graph the
//! principal's application permissions (its `roles`) at issuance.
//!
//! Errors have Entra's exact shape (`error`, `error_description` starting with `AADSTSnnn:`,
//! `error_codes`, `timestamp`, `trace_id`, `correlation_id`, `error_uri`), because
//! `azure_identity` turns `error_description` into the error message and `error_codes` into the
//! error code. Secrets, assertions and tokens are never logged or echoed (a refused assertion's
//! `iss`, `sub` and `aud` are, as Entra echoes them).
//!
//! Federated-credential errors, and where their codes and texts come from. Microsoft's list of
//! codes (<https://learn.microsoft.com/entra/identity-platform/reference-error-codes>) names
//! only some of them; the texts are Entra's answers as recorded in Microsoft's SDK repositories
//! and in bug reports quoting the live service:
//!
//! | failure | status, `error`, code | source |
//! |---|---|---|
//! | not a JWT | 400 `invalid_request` 50027 "JWT token is invalid or malformed." | text: <https://github.com/AzureAD/microsoft-authentication-library-for-dotnet/blob/main/tests/Microsoft.Identity.Test.Common/TestConstants.cs> (`SendTenantIdInCredentialValueError50027`); 400: <https://docs.gitlab.com/ci/secrets/azure_key_vault/> |
//! | no `iss`/`sub`/`aud` | 400 `invalid_request` 90014 "The required field '…' is missing from the credential. …" | same MSAL.NET file (`BadCredNoIssError90014`) |
//! | no credential with the token's issuer | 401 `invalid_client` 700211 | <https://github.com/Azure/azure-workload-identity/issues/1200> |
//! | unsupported `alg` | 401 `invalid_client` 5002738 | same MSAL.NET file (`BadCredBadAlgError5002738`) |
//! | no JWKS for the issuer | 400 `invalid_request` 90061 "Request to External OIDC endpoint failed." | <https://github.com/Azure/azure-workload-identity/blob/main/docs/book/src/troubleshooting.md> |
//! | `kid` not in the JWKS | 401 `invalid_client` 7000272 | <https://github.com/Azure/azure-workload-identity/issues/616>, <https://github.com/Azure/azure-workload-identity/issues/1232> |
//! | signature does not verify | 401 `invalid_client` 700027 "Client assertion failed signature validation." | reference-error-codes above; UNVERIFIED that Entra uses this code for a federated token whose `kid` is known |
//! | expired / not yet valid | 401 `invalid_client` 700024 | <https://github.com/Azure/azure-sdk-for-rust/issues/1739>, <https://github.com/risingwavelabs/risingwave/issues/16262> |
//! | no credential with the subject | 401 `invalid_client` 700213; 7002138 when only the letter case differs | <https://github.com/Azure/login/issues/453>, <https://github.com/dotnet/maui/pull/31978> (current wording); <https://github.com/Azure/login/issues/515> |
//! | none of those accepts the audience | 401 `invalid_client` 700212 | AthenZ's `AzureAccessTokenProviderTest` (<https://github.com/AthenZ/athenz>); 401 for this family: <https://github.com/microsoft/Agents/issues/202> |
//!
//! Before 2023 Entra answered every "no matching federated identity record" with AADSTS70021
//! (400 `invalid_request`, "… Assertion Issuer: '…'. Assertion Subject: '…'. Assertion
//! Audience: '…'.", Azure/azure-workload-identity `troubleshooting.md`); it now uses the
//! specific codes 700211/700212/700213 above, which all still start with `AADSTS70021`.

use std::time::SystemTime;

use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};

use super::clock;
use super::config::{GRAPH_APP_ID, GRAPH_AUDIENCE};
use super::federation::{self, Rejection};
use super::state::Shared;
use super::tokens::{Audience, Identity};

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

    /// Discovery names an unknown tenant `invalid_tenant` (the token endpoint says
    /// `invalid_request` for the same AADSTS90002).
    fn unknown_tenant_discovery(tenant: &str) -> EntraError {
        EntraError {
            error: "invalid_tenant",
            ..EntraError::unknown_tenant(tenant)
        }
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

    /// A refused client assertion (see the module docs for the sources). Echoes the
    /// token's `iss`, `sub` and `aud` as Entra does, never the assertion.
    fn assertion(rejection: Rejection) -> EntraError {
        const DOCS: &str =
            "https://learn.microsoft.com/entra/workload-id/workload-identity-federation";
        let client = |code: u32, description: String| {
            EntraError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                code,
                description,
            )
        };
        let no_record = |code: u32, what: &str, value: &str| {
            client(
                code,
                format!(
                    "No matching federated identity record found for presented assertion {what} '{value}'. Check your federated identity credential Subject, Audience and Issuer against the presented assertion. {DOCS}"
                ),
            )
        };
        match rejection {
            Rejection::Malformed => EntraError::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                50027,
                "JWT token is invalid or malformed.".into(),
            ),
            Rejection::MissingClaim(claim) => EntraError::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                90014,
                format!(
                    "The required field '{claim}' is missing from the credential. Ensure that you have all the necessary parameters for the login request."
                ),
            ),
            Rejection::UnknownIssuer { issuer } => no_record(700211, "issuer", &issuer),
            Rejection::UnsupportedAlgorithm { alg } => client(
                5002738,
                format!(
                    "Invalid JWT token. '{alg}' is not a supported signature algorithm. Supported signing algorithms are: '{}'",
                    federation::SUPPORTED_ALGORITHMS
                        .iter()
                        .map(|a| format!("{a:?}"))
                        .collect::<Vec<_>>()
                        .join(",")
                ),
            ),
            Rejection::IssuerUnreachable => EntraError::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                90061,
                "Request to External OIDC endpoint failed.".into(),
            ),
            Rejection::KeyNotFound { identifier, issuer } => client(
                7000272,
                format!(
                    "The certificate with identifier {identifier} used to sign the federated credential could not be found in the metadata of identity provider {issuer}. Please validate that your Identity Provider's metadata exposes the key used to sign the incoming token."
                ),
            ),
            Rejection::BadSignature => client(
                700027,
                "Client assertion failed signature validation.".into(),
            ),
            Rejection::NotInTimeRange {
                now,
                valid_from,
                expires,
            } => client(
                700024,
                format!(
                    "Client assertion is not within its valid time range. Current time: {}, assertion valid from {}, expiry time of assertion {}. Review the documentation at https://learn.microsoft.com/entra/identity-platform/certificate-credentials .",
                    clock::entra_precise(now),
                    clock::entra_precise(valid_from),
                    clock::entra_precise(expires)
                ),
            ),
            Rejection::SubjectCaseMismatch { subject } => client(
                7002138,
                format!(
                    "No matching federated identity record found for presented assertion subject '{subject}'. The subject matches with case-insensitive comparison, but not with case-sensitive comparison. Check your federated identity credential Subject, Audience and Issuer against the presented assertion. See documentation at: {DOCS}. See breaking change notification and remediation at: https://learn.microsoft.com/en-us/entra/identity-platform/reference-breaking-changes#august-2024."
                ),
            ),
            Rejection::UnknownSubject { subject } => no_record(700213, "subject", &subject),
            Rejection::UnknownAudience { audience } => no_record(700212, "audience", &audience),
        }
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

/// Serves a tenant's OpenID Provider metadata, as
/// `https://login.microsoftonline.com/{tenant}/v2.0/.well-known/openid-configuration` does: the
/// endpoints under the simulator's own address and the tenant's id (the path may name it in any
/// case), so that MSAL-based clients find the token endpoint without a shim.
pub(crate) fn openid_configuration(
    shared: &Shared,
    tenant: &str,
    method: &Method,
    headers: &HeaderMap,
) -> Response {
    if method != Method::GET && method != Method::HEAD {
        return StatusCode::METHOD_NOT_ALLOWED.into_response();
    }
    let Some(id) = shared.world().tenant(tenant).map(|t| t.id.clone()) else {
        return EntraError::unknown_tenant_discovery(tenant).render(shared, headers);
    };
    let base = shared.base_url.as_str().trim_end_matches('/');
    let host = shared.base_url.host_str().unwrap_or("localhost");
    let at = |path: &str| format!("{base}/{id}/{path}");
    let body = serde_json::json!({
        "token_endpoint": at("oauth2/v2.0/token"),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "jwks_uri": at("discovery/v2.0/keys"),
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": at("v2.0"),
        "request_uri_parameter_supported": false,
        "userinfo_endpoint": format!("{base}/oidc/userinfo"),
        "authorization_endpoint": at("oauth2/v2.0/authorize"),
        "device_authorization_endpoint": at("oauth2/v2.0/devicecode"),
        "http_logout_supported": true,
        "frontchannel_logout_supported": true,
        "end_session_endpoint": at("oauth2/v2.0/logout"),
        "claims_supported": ["sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name", "msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "nonce", "preferred_username", "name", "tid", "ver", "at_hash", "c_hash", "email"],
        "kerberos_endpoint": at("kerberos"),
        "tenant_region_scope": "NA",
        "cloud_instance_name": host,
        "cloud_graph_host_name": host,
        "msgraph_host": host,
        "rbac_url": format!("{base}/rbac"),
    });
    let mut response = json_response(StatusCode::OK, &body);
    // Discovery documents are public and cacheable, unlike tokens.
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("max-age=86400, private"),
    );
    response
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
    let audience = check_scope(scope, &shared.arm_audience, tenant)?;

    let appidacr = match (&form.client_secret, &form.client_assertion) {
        (Some(secret), _) => {
            if principal.client_secret.as_deref() != Some(secret.as_str()) {
                return Err(EntraError::bad_secret(client_id));
            }
            "1"
        }
        (None, Some(assertion)) => {
            if form.client_assertion_type.as_deref() != Some(JWT_BEARER) {
                return Err(EntraError::bad_assertion_type());
            }
            federation::check(
                assertion,
                &principal.federated_credentials,
                &world.issuers,
                SystemTime::now(),
            )
            .map_err(EntraError::assertion)?;
            "2"
        }
        (None, None) => return Err(EntraError::no_credential()),
    };

    let identity = Identity {
        tenant_id: tenant_seed.id.clone(),
        client_id: principal.client_id.clone(),
        object_id: principal.object_id.clone(),
        audience,
        roles: match audience {
            Audience::Graph => principal.graph_permissions.clone(),
            Audience::Arm => Vec::new(),
        },
        appidacr,
    };
    drop(world);
    tracing::debug!(tenant, client_id, "simulated Entra issued a token");
    Ok(shared.tokens.issue(identity, shared.token_lifetime))
}

/// Only `<resource>/.default` (one scope) is a valid client-credentials scope; Entra also
/// accepts the doubled slash some SDKs send. The resource is ARM (`audience`) or Microsoft
/// Graph (`https://graph.microsoft.com`, or its application id
/// `00000003-0000-0000-c000-000000000000`); anything else is AADSTS500011.
fn check_scope(scope: &str, audience: &str, tenant: &str) -> Result<Audience, EntraError> {
    let Some(resource) = scope.strip_suffix("/.default") else {
        return Err(EntraError::invalid_scope(scope));
    };
    if resource.contains(' ') {
        return Err(EntraError::invalid_scope(scope));
    }
    let trimmed = resource.trim_end_matches('/');
    if trimmed == audience {
        Ok(Audience::Arm)
    } else if trimmed.eq_ignore_ascii_case(GRAPH_AUDIENCE)
        || trimmed.eq_ignore_ascii_case(GRAPH_APP_ID)
    {
        Ok(Audience::Graph)
    } else {
        Err(EntraError::unknown_resource(resource, tenant))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARM: &str = "https://management.azure.com";

    #[test]
    fn scopes() {
        let audience = |scope: &str| check_scope(scope, ARM, "t").map_err(|e| e.code);
        assert_eq!(
            audience("https://management.azure.com/.default"),
            Ok(Audience::Arm)
        );
        assert_eq!(
            audience("https://management.azure.com//.default"),
            Ok(Audience::Arm)
        );
        assert_eq!(
            audience("https://graph.microsoft.com/.default"),
            Ok(Audience::Graph)
        );
        assert_eq!(
            audience("00000003-0000-0000-c000-000000000000/.default"),
            Ok(Audience::Graph)
        );
        let wrong_form = check_scope("https://management.azure.com/user_impersonation", ARM, "t");
        assert_eq!(wrong_form.map_err(|e| e.error), Err("invalid_scope"));
        assert_eq!(audience("https://vault.azure.net/.default"), Err(500011));
        assert_eq!(
            audience("https://graph.microsoft.com/User.Read"),
            Err(1002012)
        );
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
    fn assertion_refusals_use_entra_statuses() {
        let status = |r: Rejection| {
            let e = EntraError::assertion(r);
            (e.status.as_u16(), e.error, e.code)
        };
        assert_eq!(
            status(Rejection::Malformed),
            (400, "invalid_request", 50027)
        );
        assert_eq!(
            status(Rejection::IssuerUnreachable),
            (400, "invalid_request", 90061)
        );
        assert_eq!(
            status(Rejection::UnknownIssuer { issuer: "i".into() }),
            (401, "invalid_client", 700211)
        );
        let expired = EntraError::assertion(Rejection::NotInTimeRange {
            now: std::time::UNIX_EPOCH + std::time::Duration::from_secs(7200),
            valid_from: std::time::UNIX_EPOCH,
            expires: std::time::UNIX_EPOCH + std::time::Duration::from_secs(3600),
        });
        assert_eq!(
            expired.description,
            "Client assertion is not within its valid time range. Current time: 1970-01-01T02:00:00.0000000Z, assertion valid from 1970-01-01T00:00:00.0000000Z, expiry time of assertion 1970-01-01T01:00:00.0000000Z. Review the documentation at https://learn.microsoft.com/entra/identity-platform/certificate-credentials ."
        );
    }

    #[test]
    fn error_body_has_entra_shape() {
        let base = url::Url::parse("https://127.0.0.1:1/").expect("url");
        let response = EntraError::bad_secret("app").into_response(&base, "corr");
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
}
