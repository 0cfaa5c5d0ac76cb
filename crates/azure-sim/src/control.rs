//! The control API under `/_sim/…`: the HTTP face of [`SimState`], for people and for
//! out-of-process tests. No token is needed; bodies are JSON whatever the Content-Type says.
//! Routes are listed in the module documentation of `simulator`.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post, put};
use axum::{Json, Router};
use http::StatusCode;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::config::{Access, FederatedCredentialSeed, ManagementGroupSeed, OidcIssuerSeed};
use super::error::SimError;
use super::faults::FaultConfig;
use super::state::{SimState, SubscriptionUpdate};
use super::throttle::ThrottleConfig;

pub(crate) fn routes() -> Router<SimState> {
    Router::new()
        .route("/_sim/requests", get(requests))
        .route("/_sim/requests/reset", post(reset_requests))
        .route(
            "/_sim/contacts/{subscription}",
            get(get_contact).put(put_contact).delete(delete_contact),
        )
        .route(
            "/_sim/contacts/{subscription}/writes",
            get(get_contact_writes),
        )
        .route(
            "/_sim/tenants/{tenant}/organization",
            get(get_organization).put(put_organization),
        )
        .route(
            "/_sim/tenants/{tenant}/organization/writes",
            get(get_organization_writes),
        )
        .route(
            "/_sim/tenants/{tenant}/principals/{client_id}/graph-permissions",
            get(get_graph_permissions).put(put_graph_permissions),
        )
        .route(
            "/_sim/faults",
            get(get_faults).put(put_faults).delete(clear_faults),
        )
        .route("/_sim/throttle", get(get_throttle).put(put_throttle))
        .route("/_sim/access/{subscription}/{client_id}", put(put_access))
        .route("/_sim/subscriptions/{subscription}", put(put_subscription))
        .route(
            "/_sim/management-groups/{group}",
            get(get_management_group).put(put_management_group),
        )
        .route("/_sim/tokens/expire", post(expire_tokens))
        .route("/_sim/oidc-issuers", put(put_oidc_issuer))
        .route(
            "/_sim/tenants/{tenant}/principals/{client_id}/federated-credentials",
            get(get_federated_credentials),
        )
        .route(
            "/_sim/tenants/{tenant}/principals/{client_id}/federated-credentials/{name}",
            put(put_federated_credential).delete(delete_federated_credential),
        )
        .route("/_sim", any(unknown_control_route))
        .route("/_sim/{*rest}", any(unknown_control_route))
}

impl IntoResponse for SimError {
    fn into_response(self) -> Response {
        let status = match &self {
            SimError::UnknownSubscription(_)
            | SimError::UnknownPrincipal(_)
            | SimError::UnknownTenant(_)
            | SimError::UnknownManagementGroup(_) => StatusCode::NOT_FOUND,
            SimError::InvalidControl(_) | SimError::InvalidSeed(_) | SimError::SeedYaml(_) => {
                StatusCode::BAD_REQUEST
            }
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        (
            status,
            Json(serde_json::json!({ "error": self.to_string() })),
        )
            .into_response()
    }
}

fn parse<T: DeserializeOwned>(body: &Bytes) -> Result<T, SimError> {
    serde_json::from_slice(body).map_err(|e| SimError::InvalidControl(e.to_string()))
}

async fn unknown_control_route() -> Response {
    SimError::InvalidControl("no such control route; see the simulator module docs".into())
        .into_response()
}

async fn requests(State(state): State<SimState>) -> Response {
    Json(state.requests()).into_response()
}

async fn reset_requests(State(state): State<SimState>) -> StatusCode {
    state.reset_requests();
    StatusCode::NO_CONTENT
}

async fn get_contact(
    State(state): State<SimState>,
    Path(subscription): Path<String>,
) -> Result<Response, SimError> {
    Ok(match state.contact(&subscription)? {
        Some(properties) => Json(properties).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            Json(serde_json::json!({"error": "no security contact"})),
        )
            .into_response(),
    })
}

/// `?caller=<name>` on a portal edit: who the Activity Log says made it.
#[derive(Deserialize, Default)]
struct CallerQuery {
    caller: Option<String>,
}

/// Body: the `properties` object to store. `?caller=ops-admin@contoso.com` names the person
/// (default [`crate::DEFAULT_PORTAL_CALLER`]).
async fn put_contact(
    State(state): State<SimState>,
    Path(subscription): Path<String>,
    Query(query): Query<CallerQuery>,
    body: Bytes,
) -> Result<Response, SimError> {
    let properties: serde_json::Value = parse(&body)?;
    let created =
        state.set_contact_as(&subscription, properties.clone(), query.caller.as_deref())?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(properties)).into_response())
}

async fn delete_contact(
    State(state): State<SimState>,
    Path(subscription): Path<String>,
    Query(query): Query<CallerQuery>,
) -> Result<StatusCode, SimError> {
    state.delete_contact_as(&subscription, query.caller.as_deref())?;
    Ok(StatusCode::NO_CONTENT)
}

fn rfc3339(at: std::time::SystemTime) -> String {
    super::clock::entra_precise(at)
}

/// The recorded writes: `[{"caller", "at", "operation", "correlationId", "status"}]`, oldest
/// first.
async fn get_contact_writes(
    State(state): State<SimState>,
    Path(subscription): Path<String>,
) -> Result<Response, SimError> {
    let writes: Vec<serde_json::Value> = state
        .contact_writes(&subscription)?
        .into_iter()
        .map(|w| {
            serde_json::json!({
                "caller": w.caller,
                "at": rfc3339(w.at),
                "operation": w.operation,
                "correlationId": w.correlation_id,
                "status": w.status,
            })
        })
        .collect();
    Ok(Json(writes).into_response())
}

async fn get_organization(
    State(state): State<SimState>,
    Path(tenant): Path<String>,
) -> Result<Response, SimError> {
    Ok(Json(state.organization(&tenant)?).into_response())
}

/// Body: the properties to change (see [`SimState::set_organization_as`]); `?caller=` names
/// the person. 204.
async fn put_organization(
    State(state): State<SimState>,
    Path(tenant): Path<String>,
    Query(query): Query<CallerQuery>,
    body: Bytes,
) -> Result<StatusCode, SimError> {
    state.set_organization_as(&tenant, parse(&body)?, query.caller.as_deref())?;
    Ok(StatusCode::NO_CONTENT)
}

/// `[{"caller", "clientId", "at", "properties"}]`, oldest first.
async fn get_organization_writes(
    State(state): State<SimState>,
    Path(tenant): Path<String>,
) -> Result<Response, SimError> {
    let writes: Vec<serde_json::Value> = state
        .organization_writes(&tenant)?
        .into_iter()
        .map(|w| {
            serde_json::json!({
                "caller": w.caller,
                "clientId": w.client_id,
                "at": rfc3339(w.at),
                "properties": w.properties,
            })
        })
        .collect();
    Ok(Json(writes).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GraphPermissionsBody {
    permissions: Vec<String>,
}

async fn get_graph_permissions(
    State(state): State<SimState>,
    Path((tenant, client_id)): Path<(String, String)>,
) -> Result<Response, SimError> {
    let permissions = state.graph_permissions(&tenant, &client_id)?;
    Ok(Json(serde_json::json!({ "permissions": permissions })).into_response())
}

/// Body: `{"permissions": ["Organization.ReadWrite.All", …]}`; 204. Tokens issued from now on
/// carry them.
async fn put_graph_permissions(
    State(state): State<SimState>,
    Path((tenant, client_id)): Path<(String, String)>,
    body: Bytes,
) -> Result<StatusCode, SimError> {
    let GraphPermissionsBody { permissions } = parse(&body)?;
    state.set_graph_permissions(&tenant, &client_id, permissions)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn get_faults(State(state): State<SimState>) -> Response {
    Json(state.faults()).into_response()
}

async fn put_faults(State(state): State<SimState>, body: Bytes) -> Result<StatusCode, SimError> {
    state.set_faults(parse::<FaultConfig>(&body)?)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn clear_faults(State(state): State<SimState>) -> StatusCode {
    state.clear_faults();
    StatusCode::NO_CONTENT
}

async fn get_throttle(State(state): State<SimState>) -> Response {
    Json(state.throttle()).into_response()
}

async fn put_throttle(State(state): State<SimState>, body: Bytes) -> Result<StatusCode, SimError> {
    state.set_throttle(parse::<ThrottleConfig>(&body)?)?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AccessBody {
    access: Access,
}

async fn put_access(
    State(state): State<SimState>,
    Path((subscription, client_id)): Path<(String, String)>,
    body: Bytes,
) -> Result<StatusCode, SimError> {
    let AccessBody { access } = parse(&body)?;
    state.set_access(&subscription, &client_id, access)?;
    Ok(StatusCode::NO_CONTENT)
}

/// Body: a [`SubscriptionUpdate`] (`state`, `securityRegistered`, `displayName`, `tags`,
/// `managementGroup`); only the fields present change, all or nothing.
async fn put_subscription(
    State(state): State<SimState>,
    Path(subscription): Path<String>,
    body: Bytes,
) -> Result<StatusCode, SimError> {
    state.update_subscription(&subscription, parse::<SubscriptionUpdate>(&body)?)?;
    Ok(StatusCode::NO_CONTENT)
}

/// A management group without its id (which is in the path).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ManagementGroupBody {
    /// Needed only when neither the group, its parent nor a single tenant tells.
    #[serde(default)]
    tenant: Option<String>,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    parent: Option<String>,
    #[serde(default)]
    subscriptions: Vec<String>,
}

async fn get_management_group(
    State(state): State<SimState>,
    Path(group): Path<String>,
) -> Result<Response, SimError> {
    let seed = state
        .management_group(&group)
        .ok_or(SimError::UnknownManagementGroup(group))?;
    Ok(Json(seed).into_response())
}

/// Body: `{"displayName", "parent", "subscriptions", "tenant"}` (all optional): creates or
/// replaces the group; 201 when new, 204 when replaced.
async fn put_management_group(
    State(state): State<SimState>,
    Path(group): Path<String>,
    body: Bytes,
) -> Result<StatusCode, SimError> {
    let ManagementGroupBody {
        tenant,
        display_name,
        parent,
        subscriptions,
    } = parse(&body)?;
    let tenant = tenant
        .or_else(|| state.management_group_tenant(&group))
        .or_else(|| {
            parent
                .as_deref()
                .and_then(|p| state.management_group_tenant(p))
        })
        .or_else(|| match state.tenant_ids().as_slice() {
            [only] => Some(only.clone()),
            _ => None,
        })
        .ok_or_else(|| {
            SimError::InvalidControl(
                "which tenant? give \"tenant\", or a \"parent\" that exists".into(),
            )
        })?;
    let created = state.put_management_group(
        &tenant,
        ManagementGroupSeed {
            id: group,
            display_name,
            parent,
            subscriptions,
        },
    )?;
    Ok(if created {
        StatusCode::CREATED
    } else {
        StatusCode::NO_CONTENT
    })
}

async fn expire_tokens(State(state): State<SimState>) -> StatusCode {
    state.expire_tokens();
    StatusCode::NO_CONTENT
}

/// Body: an [`OidcIssuerSeed`]. 201 for a new issuer, 204 when its keys were replaced.
async fn put_oidc_issuer(
    State(state): State<SimState>,
    body: Bytes,
) -> Result<StatusCode, SimError> {
    let created = state.set_oidc_issuer(parse::<OidcIssuerSeed>(&body)?)?;
    Ok(if created {
        StatusCode::CREATED
    } else {
        StatusCode::NO_CONTENT
    })
}

async fn get_federated_credentials(
    State(state): State<SimState>,
    Path((tenant, client_id)): Path<(String, String)>,
) -> Result<Response, SimError> {
    Ok(Json(state.federated_credentials(&tenant, &client_id)?).into_response())
}

/// A federated credential without its name (which is in the path).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct FederatedCredentialBody {
    issuer: String,
    subject: String,
    #[serde(default)]
    audiences: Option<Vec<String>>,
}

async fn put_federated_credential(
    State(state): State<SimState>,
    Path((tenant, client_id, name)): Path<(String, String, String)>,
    body: Bytes,
) -> Result<StatusCode, SimError> {
    let FederatedCredentialBody {
        issuer,
        subject,
        audiences,
    } = parse(&body)?;
    let mut credential = FederatedCredentialSeed::new(name, issuer, subject);
    if let Some(audiences) = audiences {
        credential.audiences = audiences;
    }
    let created = state.add_federated_credential(&tenant, &client_id, credential)?;
    Ok(if created {
        StatusCode::CREATED
    } else {
        StatusCode::NO_CONTENT
    })
}

async fn delete_federated_credential(
    State(state): State<SimState>,
    Path((tenant, client_id, name)): Path<(String, String, String)>,
) -> Result<Response, SimError> {
    Ok(
        if state.remove_federated_credential(&tenant, &client_id, &name)? {
            StatusCode::NO_CONTENT.into_response()
        } else {
            (
                StatusCode::NOT_FOUND,
                Json(serde_json::json!({"error": "no such federated credential"})),
            )
                .into_response()
        },
    )
}
