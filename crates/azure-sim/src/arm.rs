//! The ARM front door: authentication, throttling, api-version, subscription, RBAC and
//! resource-provider checks, then dispatch to the resource handlers.
//!
//! Checks run in this order, each answering with ARM's error when it fails:
//!
//! 1. bearer token → 401 `AuthenticationFailed` (no/garbled header), `InvalidAuthenticationToken`
//!    (unknown token), `ExpiredAuthenticationToken`, all with `WWW-Authenticate`;
//! 2. token bucket → 429 `SubscriptionRequestsThrottled` / `TenantRequestsThrottled` + `Retry-After`
//!    (from here on every response carries the bucket's `x-ms-ratelimit-remaining-…` header);
//! 3. api-version → 400 `MissingApiVersionParameter` / `InvalidApiVersionParameter`;
//! 4. method → 405;
//! 5. subscription exists → 404 `SubscriptionNotFound`; token from its tenant → 401
//!    `InvalidAuthenticationTokenTenant`;
//! 6. RBAC → 403 `AuthorizationFailed`; writes on a Disabled/Deleted subscription → 409
//!    `ReadOnlyDisabledSubscription`;
//! 7. Microsoft.Security registered → 404 `Subscription Not Registered`;
//! 8. contact name → 400; then the operation itself.
//!
//! Management group descendants (tenant-level, like `GET /subscriptions`) take steps 1–4 (the
//! tenant reads bucket; api-versions 2020-05-01, 2021-04-01, 2023-04-01), then `$top` → 400, a
//! group unknown in the caller's tenant → 404 `NotFound`, no read grant on the group or an
//! ancestor → 403 `AuthorizationFailed` for `Microsoft.Management/managementGroups/descendants/read`.
//!
//! The Activity Log (`…/providers/Microsoft.Insights/eventtypes/management/values`) takes steps
//! 1–5 (the subscription reads bucket; api-version 2015-04-01 only), then RBAC → 403
//! `AuthorizationFailed` for `Microsoft.Insights/eventtypes/values/read` (any read grant on the
//! subscription allows it, as Reader does), then `$filter` → 400 (see `activity_log.rs`).
//!
//! A token issued for another resource (Microsoft Graph) is refused at step 1 with 401
//! `InvalidAuthenticationTokenAudience` "The access token has been obtained for wrong audience
//! or resource '…'. It should exactly match with one of the allowed audiences …", the message
//! quoted in Azure-Samples/active-directory-dotnetcore-daemon-v2#145 and
//! JetBrains/azure-tools-for-intellij#16.
//!
//! Every successful `PUT` or `DELETE` of a contact is recorded for the Activity Log, with the
//! caller's object id, the request's correlation id and its arrival and completion times.
//!
//! So a request that is throttled or refused by RBAC still spends a token, as ARM's do.

use std::time::SystemTime;

use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};

use super::activity_log::{self, ACTIVITY_LOG_API_VERSION, Actor, ContactWriteRecord};
use super::arm_error::{ArmError, CONTACTS_API_VERSION, MANAGEMENT_GROUPS_API_VERSIONS};
use super::clock;
use super::config::{DEFAULT_ARM_AUDIENCE, GRAPH_AUDIENCE};
use super::contacts;
use super::management_groups;
use super::route::Route;
use super::state::Shared;
use super::subscriptions;
use super::throttle::{OpClass, Spend, retry_after_secs};
use super::tokens::{Audience, Identity, TokenRejection};

/// The parts of a request the ARM handlers look at.
pub(crate) struct ArmRequest<'a> {
    pub(crate) method: &'a Method,
    pub(crate) path: &'a str,
    pub(crate) query: Option<&'a str>,
    pub(crate) headers: &'a HeaderMap,
    pub(crate) body: &'a [u8],
    /// The `x-ms-correlation-request-id` the response carries (the client's, or a fresh one).
    pub(crate) correlation_id: &'a str,
}

impl ArmRequest<'_> {
    /// A query parameter; ARM matches parameter names case-insensitively.
    fn query_param(&self, name: &str) -> Option<String> {
        url::form_urlencoded::parse(self.query?.as_bytes())
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.into_owned())
    }
}

/// Serves a request on one of the ARM routes (`Route::Subscriptions`, `SecurityContact(s)`,
/// `ManagementGroupDescendants`, `ActivityLog`).
pub(crate) fn handle(shared: &Shared, route: &Route, request: &ArmRequest<'_>) -> Response {
    let realm = realm_tenant(shared, route);
    let caller = match authenticate(shared, request.headers, &realm) {
        Ok(caller) => caller,
        Err(error) => return error.into_response(),
    };

    let (class, bucket_scope) = match (route, request.method) {
        (Route::Subscriptions | Route::ManagementGroupDescendants { .. }, _) => {
            (OpClass::TenantRead, caller.tenant_id.clone())
        }
        (_, &Method::DELETE) => (OpClass::SubscriptionDelete, subscription_of(route)),
        (_, &Method::GET | &Method::HEAD) => (OpClass::SubscriptionRead, subscription_of(route)),
        _ => (OpClass::SubscriptionWrite, subscription_of(route)),
    };
    let remaining = match shared
        .throttle
        .spend(class, &bucket_scope, &caller.object_id)
    {
        Spend::Allowed { remaining } => remaining,
        Spend::Throttled { retry_after } => {
            let error = ArmError::throttled(
                class == OpClass::TenantRead,
                class.verb(),
                &bucket_scope,
                &caller.object_id,
                retry_after_secs(retry_after),
            );
            return with_remaining(error.into_response(), class, 0);
        }
    };

    let response = match route {
        Route::Subscriptions => list_subscriptions(shared, &caller, request),
        Route::ManagementGroupDescendants { group } => {
            list_descendants(shared, group, &caller, request)
        }
        Route::ActivityLog { subscription } => {
            list_activity_log(shared, subscription, &caller, request)
        }
        _ => contact_operation(shared, route, &caller, request),
    }
    .unwrap_or_else(IntoResponse::into_response);
    with_remaining(response, class, remaining)
}

fn subscription_of(route: &Route) -> String {
    route.subscription().unwrap_or_default().to_owned()
}

fn with_remaining(mut response: Response, class: OpClass, remaining: u32) -> Response {
    response
        .headers_mut()
        .insert(class.remaining_header(), HeaderValue::from(remaining));
    response
}

/// The tenant named in `WWW-Authenticate`: the subscription's (or management group's) home
/// tenant (clients use it to discover where to get a token), else `common`.
fn realm_tenant(shared: &Shared, route: &Route) -> String {
    let world = shared.world();
    route
        .subscription()
        .and_then(|sub| Some(world.subscription(sub)?.tenant_id.clone()))
        .or_else(|| Some(world.group(route.management_group()?)?.tenant_id))
        .unwrap_or_else(|| "common".to_owned())
}

fn unauthorized(shared: &Shared, realm: &str, code: &str, message: String, why: &str) -> ArmError {
    let challenge = format!(
        "Bearer authorization_uri=\"{}{realm}\", error=\"invalid_token\", error_description=\"{why}\"",
        shared.base_url
    );
    ArmError::new(StatusCode::UNAUTHORIZED, code, message)
        .with_header("www-authenticate", challenge)
}

fn authenticate(shared: &Shared, headers: &HeaderMap, realm: &str) -> Result<Identity, ArmError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Err(unauthorized(
            shared,
            realm,
            "AuthenticationFailed",
            "Authentication failed. The 'Authorization' header is missing.".into(),
            "The authentication failed because of missing 'Authorization' header.",
        ));
    };
    let token = value
        .to_str()
        .ok()
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .filter(|token| !token.is_empty());
    let Some(token) = token else {
        return Err(unauthorized(
            shared,
            realm,
            "AuthenticationFailed",
            "Authentication failed. The 'Authorization' header is provided in an invalid format."
                .into(),
            "The authentication failed because of malformed 'Authorization' header.",
        ));
    };
    let now = SystemTime::now();
    let identity = shared
        .tokens
        .validate(token, now)
        .map_err(|rejection| match rejection {
            TokenRejection::Unknown => unauthorized(
                shared,
                realm,
                "InvalidAuthenticationToken",
                "The access token is invalid.".into(),
                "The access token is invalid.",
            ),
            TokenRejection::Expired { expired_at } => unauthorized(
                shared,
                realm,
                "ExpiredAuthenticationToken",
                format!(
                    "The access token expiry UTC time '{}' is earlier than current UTC time '{}'.",
                    clock::dotnet_utc(expired_at),
                    clock::dotnet_utc(now)
                ),
                "The access token has expired.",
            ),
        })?;
    if identity.audience != Audience::Arm {
        let allowed = if shared.arm_audience == DEFAULT_ARM_AUDIENCE {
            "'https://management.core.windows.net/','https://management.core.windows.net','https://management.azure.com/','https://management.azure.com'".to_owned()
        } else {
            format!("'{0}/','{0}'", shared.arm_audience)
        };
        return Err(unauthorized(
            shared,
            realm,
            "InvalidAuthenticationTokenAudience",
            format!(
                "The access token has been obtained for wrong audience or resource '{GRAPH_AUDIENCE}'. It should exactly match with one of the allowed audiences {allowed}."
            ),
            "The access token has been obtained for wrong audience or resource.",
        ));
    }
    Ok(identity)
}

fn list_subscriptions(
    shared: &Shared,
    caller: &Identity,
    request: &ArmRequest<'_>,
) -> Result<Response, ArmError> {
    let api_version = request
        .query_param("api-version")
        .filter(|v| !v.is_empty())
        .ok_or_else(ArmError::missing_api_version)?;
    if request.method != Method::GET {
        return Err(ArmError::method_not_allowed(request.method.as_str()));
    }
    let skip_token = request.query_param("$skiptoken");
    let world = shared.world();
    let visible = world.visible_subscriptions(&caller.tenant_id, &caller.client_id);
    let body = subscriptions::page(
        &visible,
        &api_version,
        skip_token.as_deref(),
        shared.page_size,
        &shared.base_url,
    )?;
    Ok((StatusCode::OK, axum::Json(body)).into_response())
}

fn list_descendants(
    shared: &Shared,
    group: &str,
    caller: &Identity,
    request: &ArmRequest<'_>,
) -> Result<Response, ArmError> {
    match request.query_param("api-version").filter(|v| !v.is_empty()) {
        None => return Err(ArmError::missing_api_version()),
        Some(v)
            if !MANAGEMENT_GROUPS_API_VERSIONS
                .iter()
                .any(|known| known.eq_ignore_ascii_case(&v)) =>
        {
            return Err(ArmError::invalid_api_version_of(
                &v,
                &MANAGEMENT_GROUPS_API_VERSIONS,
            ));
        }
        Some(_) => {}
    }
    if request.method != Method::GET {
        return Err(ArmError::method_not_allowed(request.method.as_str()));
    }
    let api_version = request.query_param("api-version").unwrap_or_default();
    let top = management_groups::parse_top(request.query_param("$top").as_deref())?;
    let skip_token = request.query_param("$skiptoken");

    let world = shared.world();
    // A group of another tenant is as invisible as one that does not exist (UNVERIFIED).
    let stored = world
        .group(group)
        .filter(|g| g.tenant_id.eq_ignore_ascii_case(&caller.tenant_id))
        .ok_or_else(|| ArmError::management_group_not_found(group))?;
    if !world.can_read_group(&caller.tenant_id, &caller.client_id, &stored.id) {
        return Err(ArmError::authorization_failed(
            &caller.object_id,
            "Microsoft.Management/managementGroups/descendants/read",
            &management_groups::group_resource_id(group),
        ));
    }
    let descendants = world.descendants(&stored.id);
    let body = management_groups::page(
        &descendants,
        &stored.id,
        &api_version,
        top,
        skip_token.as_deref(),
        shared.descendant_page_size,
        &shared.base_url,
    )?;
    Ok((StatusCode::OK, axum::Json(body)).into_response())
}

fn list_activity_log(
    shared: &Shared,
    subscription_id: &str,
    caller: &Identity,
    request: &ArmRequest<'_>,
) -> Result<Response, ArmError> {
    match request.query_param("api-version").filter(|v| !v.is_empty()) {
        None => return Err(ArmError::missing_api_version()),
        Some(v) if !v.eq_ignore_ascii_case(ACTIVITY_LOG_API_VERSION) => {
            return Err(ArmError::invalid_api_version_of(
                &v,
                &[ACTIVITY_LOG_API_VERSION],
            ));
        }
        Some(_) => {}
    }
    if request.method != Method::GET {
        return Err(ArmError::method_not_allowed(request.method.as_str()));
    }
    let world = shared.world();
    let sub = world
        .subscription(subscription_id)
        .ok_or_else(|| ArmError::subscription_not_found(subscription_id))?;
    if !sub.tenant_id.eq_ignore_ascii_case(&caller.tenant_id) {
        return Err(wrong_tenant(shared, &caller.tenant_id, &sub.tenant_id));
    }
    if !world
        .access(&caller.tenant_id, &caller.client_id, subscription_id)
        .can_read()
    {
        return Err(ArmError::authorization_failed(
            &caller.object_id,
            "Microsoft.Insights/eventtypes/values/read",
            request.path.trim_end_matches('/'),
        ));
    }
    let filter = request.query_param("$filter").unwrap_or_default();
    let select = request.query_param("$select");
    let skip_token = request.query_param("$skiptoken");
    let body = activity_log::page(
        world.contact_writes(),
        &activity_log::Query {
            subscription_id: &sub.id,
            filter_text: &filter,
            select: select.as_deref(),
            skip_token: skip_token.as_deref(),
            page_size: shared.activity_log_page_size,
            arm_audience: &shared.arm_audience,
            base_url: &shared.base_url,
        },
        SystemTime::now(),
    )?;
    Ok((StatusCode::OK, axum::Json(body)).into_response())
}

fn contact_operation(
    shared: &Shared,
    route: &Route,
    caller: &Identity,
    request: &ArmRequest<'_>,
) -> Result<Response, ArmError> {
    let begun = SystemTime::now();
    match request.query_param("api-version").filter(|v| !v.is_empty()) {
        None => return Err(ArmError::missing_api_version()),
        Some(v) if !v.eq_ignore_ascii_case(CONTACTS_API_VERSION) => {
            return Err(ArmError::invalid_api_version(&v));
        }
        Some(_) => {}
    }
    let (action, is_write) = match (route, request.method) {
        (_, &Method::GET) => ("Microsoft.Security/securityContacts/read", false),
        (Route::SecurityContact { .. }, &Method::PUT) => {
            ("Microsoft.Security/securityContacts/write", true)
        }
        (Route::SecurityContact { .. }, &Method::DELETE) => {
            ("Microsoft.Security/securityContacts/delete", true)
        }
        _ => return Err(ArmError::method_not_allowed(request.method.as_str())),
    };

    let subscription_id = subscription_of(route);
    let mut world = shared.world();
    let sub = world
        .subscription(&subscription_id)
        .ok_or_else(|| ArmError::subscription_not_found(&subscription_id))?;
    if !sub.tenant_id.eq_ignore_ascii_case(&caller.tenant_id) {
        return Err(wrong_tenant(shared, &caller.tenant_id, &sub.tenant_id));
    }
    let access = world.access(&caller.tenant_id, &caller.client_id, &subscription_id);
    let allowed = if is_write {
        access.can_write()
    } else {
        access.can_read()
    };
    if !allowed {
        return Err(ArmError::authorization_failed(
            &caller.object_id,
            action,
            request.path.trim_end_matches('/'),
        ));
    }
    if is_write && sub.state.is_read_only() {
        return Err(ArmError::read_only_subscription(&sub.id));
    }
    if !sub.security_registered {
        return Err(ArmError::security_not_registered());
    }
    if let Route::SecurityContact { name, .. } = route {
        contacts::check_name(name)?;
    }

    let if_match = request
        .headers
        .get(http::header::IF_MATCH)
        .and_then(|v| v.to_str().ok());
    let sub = world
        .subscription_mut(&subscription_id)
        .ok_or_else(|| ArmError::subscription_not_found(&subscription_id))?;
    let (stored_id, tenant_id) = (sub.id.clone(), sub.tenant_id.clone());
    let response = match (route, request.method) {
        (Route::SecurityContacts { .. }, _) => contacts::list(sub, shared.etags),
        (_, &Method::PUT) => contacts::put(sub, request.body, shared.etags, if_match),
        (_, &Method::DELETE) => contacts::delete(sub, shared.etags, if_match),
        _ => contacts::get(sub, shared.etags),
    };
    if is_write && response.status().is_success() {
        let client_request_id = request
            .headers
            .get("x-ms-client-request-id")
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty())
            .map(str::to_owned);
        world.record_contact_write(ContactWriteRecord::new(
            &stored_id,
            &tenant_id,
            Actor::App {
                object_id: caller.object_id.clone(),
                client_id: caller.client_id.clone(),
                appidacr: caller.appidacr,
            },
            begun,
            SystemTime::now(),
            request.method == Method::DELETE,
            response.status().as_u16(),
            request.correlation_id.to_owned(),
            client_request_id,
        ));
    }
    Ok(response)
}

fn wrong_tenant(shared: &Shared, token_tenant: &str, home_tenant: &str) -> ArmError {
    unauthorized(
        shared,
        home_tenant,
        "InvalidAuthenticationTokenTenant",
        format!(
            "The access token is from the wrong issuer 'https://sts.windows.net/{token_tenant}/'. It must match the tenant 'https://sts.windows.net/{home_tenant}/' associated with this subscription. Please use the authority (URL) 'https://login.windows.net/{home_tenant}' to get the token. Note, if the subscription is transferred to another tenant there is no impact to the services, but information about new tenant could take time to propagate (up to an hour). If you just transferred your subscription and see this error message, please try back later."
        ),
        "The access token is from the wrong issuer.",
    )
}
