//! The HTTPS server: accept loop, TLS, HTTP/1.1 connections, connection resets and shutdown.
//!
//! Connections are served by hyper directly (not `axum::serve`) because a simulated reset must
//! reach the TCP socket: each connection keeps a duplicate handle of its socket, and a handler
//! that decides to reset fires the connection's [`ConnectionReset`]; the connection task then
//! sets `SO_LINGER` to zero through the duplicate and drops everything, so the kernel sends a
//! RST instead of a response.

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;
use url::Url;

use super::config::SimConfig;
use super::control;
use super::error::SimError;
use super::pipeline;
use super::state::SimState;
use super::tls;

/// A TLS handshake that has not finished by then is abandoned.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long shutdown waits for in-flight requests before cutting connections.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);

/// Lets a request handler ask for its connection to be reset.
#[derive(Clone, Default)]
pub(crate) struct ConnectionReset(Arc<Notify>);

impl ConnectionReset {
    pub(crate) fn trigger(&self) {
        // notify_one stores a permit, so the trigger is not lost if the connection task is
        // not waiting at this instant.
        self.0.notify_one();
    }
}

/// Entry point: starts simulators.
#[derive(Debug)]
pub struct Simulator;

impl Simulator {
    /// Binds `config.bind`, generates a fresh CA and server certificate, and serves on the
    /// current tokio runtime until the handle is shut down or dropped.
    pub async fn start(config: SimConfig) -> Result<SimHandle, SimError> {
        config.validate()?;
        let listener = TcpListener::bind(config.bind)
            .await
            .map_err(|source| SimError::Bind {
                addr: config.bind,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| SimError::Bind {
            addr: config.bind,
            source,
        })?;
        let material = tls::generate(Some(addr.ip()))?;
        let url = base_url(addr)?;
        let state = SimState::new(&config, url.clone())?;
        let router = control::routes()
            .fallback(pipeline::serve)
            .with_state(state.clone());
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let acceptor = TlsAcceptor::from(material.server_config);
        let task = tokio::spawn(accept_loop(listener, acceptor, router, shutdown_rx));
        tracing::info!(%url, "Azure simulator listening");
        Ok(SimHandle {
            url,
            addr,
            ca_pem: material.ca_pem,
            state,
            shutdown: shutdown_tx,
            task: Some(task),
        })
    }
}

/// The URL clients use: loopback when bound to every interface, since the certificate always
/// covers 127.0.0.1.
fn base_url(addr: SocketAddr) -> Result<Url, SimError> {
    let host = if addr.ip().is_unspecified() {
        "127.0.0.1".to_owned()
    } else {
        match addr.ip() {
            std::net::IpAddr::V4(ip) => ip.to_string(),
            std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        }
    };
    Url::parse(&format!("https://{host}:{}/", addr.port()))
        .map_err(|e| SimError::InvalidSeed(format!("cannot form a URL for {addr}: {e}")))
}

/// A running simulator. Dropping it stops the server (in the background); call
/// [`SimHandle::shutdown`] to wait for that.
#[derive(Debug)]
pub struct SimHandle {
    url: Url,
    addr: SocketAddr,
    ca_pem: String,
    state: SimState,
    shutdown: watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl SimHandle {
    /// Base URL, e.g. `https://127.0.0.1:41234/`: both the ARM endpoint and the Entra authority host.
    pub fn url(&self) -> Url {
        self.url.clone()
    }

    /// The bound socket address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The PEM of the CA that signed the server certificate.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// Writes the CA PEM to `path` (e.g. for `SSL_CERT_FILE`).
    pub fn write_ca(&self, path: &Path) -> Result<(), SimError> {
        std::fs::write(path, &self.ca_pem).map_err(|source| SimError::File {
            path: path.to_owned(),
            source,
        })
    }

    /// The control object: counters, portal edits, faults, RBAC, throttling.
    pub fn state(&self) -> &SimState {
        &self.state
    }

    /// Stops accepting, lets in-flight requests finish briefly, and waits for the server to end.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(task) = self.task.take() {
            // A panicked server task has nothing left to clean up.
            let _ = task.await;
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

/// Runs a simulator until `shutdown` resolves (the operator's `simulate` subcommand): writes
/// the CA to `ca_out`, then hands the running handle to `on_ready`.
pub async fn serve_until(
    config: SimConfig,
    ca_out: &Path,
    on_ready: impl FnOnce(&SimHandle),
    shutdown: impl Future<Output = ()>,
) -> Result<(), SimError> {
    let handle = Simulator::start(config).await?;
    handle.write_ca(ca_out)?;
    on_ready(&handle);
    shutdown.await;
    handle.shutdown().await;
    Ok(())
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    router: Router,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = stopped(&mut shutdown) => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    connections.spawn(serve_connection(
                        stream,
                        peer,
                        acceptor.clone(),
                        router.clone(),
                        shutdown.clone(),
                    ));
                }
                Err(error) => {
                    // Usually EMFILE under load: back off instead of spinning.
                    tracing::warn!(%error, "simulator accept failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    let drained = tokio::time::timeout(DRAIN_TIMEOUT, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        connections.shutdown().await;
    }
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    acceptor: TlsAcceptor,
    router: Router,
    mut shutdown: watch::Receiver<bool>,
) {
    // Keep a second handle on the socket: the TLS stream owns the first one, and a reset needs
    // to set SO_LINGER after hyper has taken it.
    let (stream, twin) = match split_handle(stream) {
        Ok(pair) => pair,
        Err(error) => {
            tracing::debug!(%peer, %error, "cannot duplicate the socket handle");
            return;
        }
    };
    let _ = stream.set_nodelay(true);
    let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(error)) => {
            tracing::debug!(%peer, %error, "TLS handshake failed");
            return;
        }
        Err(_) => return,
    };

    let reset = ConnectionReset::default();
    let service = {
        let reset = reset.clone();
        service_fn(move |mut request: http::Request<Incoming>| {
            request.extensions_mut().insert(reset.clone());
            router.clone().oneshot(request.map(axum::body::Body::new))
        })
    };
    let connection = http1::Builder::new().serve_connection(TokioIo::new(tls), service);
    tokio::pin!(connection);
    tokio::select! {
        result = connection.as_mut() => {
            if let Err(error) = result {
                tracing::debug!(%peer, %error, "connection ended with an error");
            }
        }
        _ = reset.0.notified() => {
            abort_with_rst(twin);
            // Dropping `connection` closes the last handle; the zero linger turns it into a RST.
        }
        _ = stopped(&mut shutdown) => {
            connection.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(DRAIN_TIMEOUT, connection.as_mut()).await;
        }
    }
}

/// Resolves once shutdown is requested (or the handle is gone), without holding the watch lock.
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

fn split_handle(stream: TcpStream) -> std::io::Result<(TcpStream, std::net::TcpStream)> {
    let std_stream = stream.into_std()?;
    let twin = std_stream.try_clone()?;
    Ok((TcpStream::from_std(std_stream)?, twin))
}

fn abort_with_rst(twin: std::net::TcpStream) {
    let socket = TcpSocket::from_std_stream(twin);
    // Deprecated because a non-zero linger blocks on close; a zero linger never blocks, and it
    // is the only way to make close() send RST. (`set_zero_linger` needs tokio 1.50.)
    #[allow(deprecated)]
    if let Err(error) = socket.set_linger(Some(Duration::ZERO)) {
        tracing::debug!(%error, "cannot set SO_LINGER for a simulated reset");
    }
}
