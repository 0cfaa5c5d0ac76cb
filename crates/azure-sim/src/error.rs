//! The one error type of the simulator module.
//!
//! Request-path problems (a bad token, a missing contact, …) are not errors of the simulator:
//! they become Azure-shaped HTTP responses. `SimError` is only for things that stop the
//! simulator from starting or a control operation from being applied.

use std::path::PathBuf;

/// Everything that can go wrong while configuring, starting or steering the simulator.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The YAML seed could not be parsed into a [`super::SimConfig`].
    #[error("cannot parse the simulator seed YAML")]
    SeedYaml(#[source] serde_saphyr::Error),

    /// The seed parsed, but describes an impossible world (duplicate ids, unknown references…).
    #[error("invalid simulator seed: {0}")]
    InvalidSeed(String),

    /// A seed or CA file could not be read or written.
    #[error("cannot access {path}")]
    File {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// Binding the listening socket failed.
    #[error("cannot bind the simulator to {addr}")]
    Bind {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },

    /// Generating the throw-away CA or server certificate failed.
    #[error("cannot generate the simulator certificates")]
    Certificate(#[source] rcgen::Error),

    /// rustls refused the generated certificate or the protocol versions.
    #[error("cannot build the simulator TLS configuration")]
    Tls(#[source] rustls::Error),

    /// A control operation named a subscription the simulator does not know.
    #[error("unknown subscription {0}")]
    UnknownSubscription(String),

    /// A control operation named a principal (client id) the simulator does not know.
    #[error("unknown principal (client id) {0}")]
    UnknownPrincipal(String),

    /// A control operation named a tenant the simulator does not know.
    #[error("unknown tenant {0}")]
    UnknownTenant(String),

    /// A control operation named a management group the simulator does not know.
    #[error("unknown management group {0}")]
    UnknownManagementGroup(String),

    /// A control operation was given a value it cannot use.
    #[error("invalid control request: {0}")]
    InvalidControl(String),
}
