//! Admin endpoints on one port: `/healthz` (the reconcile loop is alive), `/readyz` (the
//! controller found its CRD and its watch works), `/metrics` (OpenMetrics text).

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{Router, extract::State, http::StatusCode, response::IntoResponse, routing::get};
use prometheus_client::registry::Registry;
use tokio_util::sync::CancellationToken;

use crate::{Error, Result};

/// How long the controller may go without a heartbeat before `/healthz` fails (the kubelet
/// then restarts the pod), and how long its watch may keep failing before `/readyz` does.
pub const STALE_AFTER: Duration = Duration::from_secs(30);

/// What the probes report, fed by the controller.
#[derive(Debug)]
pub struct Health {
    started: Instant,
    /// The CRD answered: the controller can work (leader or standby).
    ready: AtomicBool,
    /// Milliseconds since `started` of the controller loop's last heartbeat.
    beat: AtomicU64,
    /// Milliseconds since `started` when the watch began failing; `u64::MAX` while it works.
    failing_since: AtomicU64,
}

impl Default for Health {
    fn default() -> Self {
        Health {
            started: Instant::now(),
            ready: AtomicBool::new(false),
            beat: AtomicU64::new(0),
            failing_since: AtomicU64::new(u64::MAX),
        }
    }
}

impl Health {
    fn now(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    pub fn set_ready(&self) {
        self.ready.store(true, Ordering::SeqCst);
    }

    /// The controller loop is alive.
    pub fn beat(&self) {
        self.beat.store(self.now(), Ordering::SeqCst);
    }

    /// The watch delivered an event.
    pub fn watch_ok(&self) {
        self.failing_since.store(u64::MAX, Ordering::SeqCst);
    }

    /// The watch failed (it is retried with backoff).
    pub fn watch_failed(&self) {
        let now = self.now();
        let _ =
            self.failing_since
                .compare_exchange(u64::MAX, now, Ordering::SeqCst, Ordering::SeqCst);
    }

    /// `Err` with the reason when the loop has stopped beating.
    pub fn live(&self) -> std::result::Result<(), String> {
        let silent =
            Duration::from_millis(self.now().saturating_sub(self.beat.load(Ordering::SeqCst)));
        if silent > STALE_AFTER {
            return Err(format!(
                "no heartbeat from the controller for {}s",
                silent.as_secs()
            ));
        }
        Ok(())
    }

    /// `Err` with the reason when the CRD was not found yet or the watch keeps failing.
    pub fn ready(&self) -> std::result::Result<(), String> {
        if !self.ready.load(Ordering::SeqCst) {
            return Err("starting".into());
        }
        let since = self.failing_since.load(Ordering::SeqCst);
        if since != u64::MAX {
            let failing = Duration::from_millis(self.now().saturating_sub(since));
            if failing > STALE_AFTER {
                return Err(format!(
                    "the policy watch has been failing for {}s",
                    failing.as_secs()
                ));
            }
        }
        Ok(())
    }
}

#[derive(Clone)]
struct AdminState {
    registry: Arc<Registry>,
    health: Arc<Health>,
}

pub async fn serve(
    addr: SocketAddr,
    registry: Registry,
    health: Arc<Health>,
    shutdown: CancellationToken,
) -> Result<()> {
    let state = AdminState {
        registry: Arc::new(registry),
        health,
    };
    let app = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| Error::AdminBind { addr, source })?;
    tracing::info!(%addr, "admin server listening (/healthz /readyz /metrics)");
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
        .map_err(Error::AdminServe)
}

fn probe(outcome: std::result::Result<(), String>, ok: &'static str) -> (StatusCode, String) {
    match outcome {
        Ok(()) => (StatusCode::OK, ok.to_owned()),
        Err(why) => (StatusCode::SERVICE_UNAVAILABLE, why),
    }
}

async fn healthz(State(state): State<AdminState>) -> impl IntoResponse {
    probe(state.health.live(), "ok")
}

async fn readyz(State(state): State<AdminState>) -> impl IntoResponse {
    probe(state.health.ready(), "ready")
}

async fn metrics(State(state): State<AdminState>) -> impl IntoResponse {
    let mut body = String::new();
    match prometheus_client::encoding::text::encode(&mut body, &state.registry) {
        Ok(()) => (
            StatusCode::OK,
            [(
                "content-type",
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            body,
        )
            .into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_follow_the_controller() {
        let h = Health::default();
        assert_eq!(h.ready(), Err("starting".into()));
        h.set_ready();
        h.beat();
        assert_eq!((h.live(), h.ready()), (Ok(()), Ok(())));
        h.watch_failed();
        assert_eq!(
            h.ready(),
            Ok(()),
            "a short watch outage is retried, not reported"
        );
        // As if 31 s had passed since the failure began and since the last beat.
        h.failing_since.store(0, Ordering::SeqCst);
        h.beat.store(0, Ordering::SeqCst);
        let later = Health {
            started: h.started - Duration::from_secs(31),
            ..Health::default()
        };
        later.set_ready();
        later.failing_since.store(0, Ordering::SeqCst);
        assert!(later.ready().unwrap_err().contains("failing"));
        assert!(later.live().unwrap_err().contains("no heartbeat"));
        later.watch_ok();
        later.beat();
        assert_eq!((later.live(), later.ready()), (Ok(()), Ok(())));
    }
}
