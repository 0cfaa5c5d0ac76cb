//! The path every Azure-facing request takes: classify → inject faults → serve → stamp the
//! tracing headers → count.
//!
//! Control routes (`/_sim/…`) bypass this entirely, so steering the simulator never shows up
//! in the counters or trips a fault.

use std::time::{Instant, SystemTime};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};

use super::arm::{self, ArmRequest};
use super::arm_error::ArmError;
use super::clock;
use super::counters::STATUS_RESET;
use super::entra::{self, EntraError};
use super::faults::{FaultAction, RequestScope};
use super::graph::{self, GraphError, GraphRequest};
use super::route::{Route, RouteKind};
use super::server::ConnectionReset;
use super::state::{Shared, SimState};

/// ARM rejects request bodies above 4 MiB.
const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// The axum fallback handler: everything that is not a control route lands here.
pub(crate) async fn serve(State(state): State<SimState>, request: Request) -> Response {
    let shared = &*state.shared;
    let (parts, body) = request.into_parts();
    let route = Route::classify(parts.uri.path());
    let kind = route.kind();
    let method = parts.method.clone();
    let subscription = route.subscription().map(str::to_owned);

    let decision = shared.faults().decide(
        &RequestScope {
            method: method.as_str(),
            route: kind,
            subscription: subscription.as_deref(),
        },
        Instant::now(),
    );
    if !decision.delay.is_zero() {
        tokio::time::sleep(decision.delay).await;
    }

    if decision.action == Some(FaultAction::Reset) {
        shared
            .counters
            .record(method.as_str(), kind, subscription.as_deref(), STATUS_RESET);
        if let Some(reset) = parts.extensions.get::<ConnectionReset>() {
            reset.trigger();
            // The connection task now drops this request together with the connection.
            std::future::pending::<()>().await;
        }
        // Only reachable when the router is driven without a connection (no reset handle).
        return StatusCode::BAD_GATEWAY.into_response();
    }

    let correlation_id = correlation_id(&parts.headers);
    let response = match decision.action {
        Some(FaultAction::Storm {
            retry_after_secs,
            retry_after_ms,
        }) => match kind {
            RouteKind::Token | RouteKind::OpenIdConfiguration => {
                let mut response = EntraError::transient(429).render(shared, &parts.headers);
                response.headers_mut().insert(
                    http::header::RETRY_AFTER,
                    HeaderValue::from(retry_after_secs),
                );
                response
            }
            RouteKind::GraphOrganization => {
                GraphError::throttled(retry_after_secs).render(&parts.headers)
            }
            _ => ArmError::too_many_requests(retry_after_secs, retry_after_ms).into_response(),
        },
        Some(FaultAction::Error { status }) => match kind {
            RouteKind::Token | RouteKind::OpenIdConfiguration => {
                EntraError::transient(status).render(shared, &parts.headers)
            }
            RouteKind::GraphOrganization => GraphError::server_error(status).render(&parts.headers),
            _ => ArmError::injected_server_error(status, &correlation_id).into_response(),
        },
        Some(FaultAction::Gateway { status }) => {
            // An nginx-style page, as a proxy or gateway in front of ARM would send it.
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::NOT_FOUND);
            let reason = status.canonical_reason().unwrap_or("Error");
            let page = format!(
                "<html>\r\n<head><title>{code} {reason}</title></head>\r\n<body>\r\n<center><h1>{code} {reason}</h1></center>\r\n<hr><center>gateway</center>\r\n</body>\r\n</html>\r\n",
                code = status.as_u16()
            );
            let mut response = (status, page).into_response();
            response.headers_mut().insert(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("text/html"),
            );
            // Straight back: a gateway's answer carries none of ARM's headers.
            shared.counters.record(
                method.as_str(),
                kind,
                subscription.as_deref(),
                response.status().as_u16(),
            );
            return response;
        }
        Some(FaultAction::Reset) | None => match read_body(body).await {
            Ok(bytes) => dispatch(shared, &route, &parts, &bytes, &correlation_id),
            Err(error) => error.into_response(),
        },
    };

    let response = stamp(response, kind, &parts.headers, &correlation_id);
    shared.counters.record(
        method.as_str(),
        kind,
        subscription.as_deref(),
        response.status().as_u16(),
    );
    response
}

fn dispatch(
    shared: &Shared,
    route: &Route,
    parts: &http::request::Parts,
    body: &[u8],
    correlation_id: &str,
) -> Response {
    match route {
        Route::Token { tenant } => {
            entra::token(shared, tenant, &parts.method, &parts.headers, body)
        }
        Route::OpenIdConfiguration { tenant } => {
            entra::openid_configuration(shared, tenant, &parts.method, &parts.headers)
        }
        Route::GraphOrganization { id } => graph::handle(
            shared,
            id.as_deref(),
            &GraphRequest {
                method: &parts.method,
                query: parts.uri.query(),
                headers: &parts.headers,
                body,
            },
        ),
        Route::Unknown => ArmError::path_not_found(parts.uri.path()).into_response(),
        _ => arm::handle(
            shared,
            route,
            &ArmRequest {
                method: &parts.method,
                path: parts.uri.path(),
                query: parts.uri.query(),
                headers: &parts.headers,
                body,
                correlation_id,
            },
        ),
    }
}

async fn read_body(body: Body) -> Result<axum::body::Bytes, ArmError> {
    axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| {
            ArmError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "RequestEntityTooLarge",
                format!(
                    "The request body is larger than {MAX_BODY_BYTES} bytes or could not be read."
                ),
            )
        })
}

/// The client's `x-ms-correlation-request-id` when it sent one, else a fresh id.
fn correlation_id(headers: &HeaderMap) -> String {
    headers
        .get("x-ms-correlation-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

/// Adds the ids Azure puts on every response (Graph's own, `request-id` and
/// `client-request-id`, are set where its body quotes them).
fn stamp(
    mut response: Response,
    kind: RouteKind,
    request: &HeaderMap,
    correlation: &str,
) -> Response {
    if kind == RouteKind::GraphOrganization {
        return response;
    }
    let request_id = uuid::Uuid::new_v4().to_string();
    let headers = response.headers_mut();
    let mut set = |name: &'static str, value: &str| {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(HeaderName::from_static(name), value);
        }
    };
    set("x-ms-request-id", &request_id);
    if matches!(kind, RouteKind::Token | RouteKind::OpenIdConfiguration) {
        if let Some(client_request_id) = request
            .get("client-request-id")
            .and_then(|v| v.to_str().ok())
        {
            set("client-request-id", client_request_id);
        }
    } else {
        set("x-ms-correlation-request-id", correlation);
        set(
            "x-ms-routing-request-id",
            &format!(
                "SIMULATOR:{}:{request_id}",
                clock::compact_utc(SystemTime::now())
            ),
        );
    }
    response
}
