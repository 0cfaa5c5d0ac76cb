//! Issued access tokens.
//!
//! Tokens are opaque random strings mapped server-side to the principal they were issued to;
//! nothing about them is signed or parseable, which keeps clients honest (they must treat
//! tokens as opaque, as Azure's guidance says) and keeps the simulator from minting JWTs (it
//! only verifies the ones presented as client assertions, in `federation.rs`).
//! Token values are never logged.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

/// Above this many stored tokens, expired ones are dropped when a new one is issued.
const PRUNE_THRESHOLD: usize = 10_000;

/// The resource a token was issued for (its `aud`): ARM accepts only ARM tokens, Microsoft
/// Graph only Graph tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Audience {
    /// `SimConfig::arm_audience` (`https://management.azure.com`).
    Arm,
    /// `https://graph.microsoft.com` ([`crate::GRAPH_AUDIENCE`]).
    Graph,
}

/// Who a token was issued to, and for what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Identity {
    pub(crate) tenant_id: String,
    pub(crate) client_id: String,
    pub(crate) object_id: String,
    pub(crate) audience: Audience,
    /// The `roles` claim: for a Graph token, the application permissions granted to the
    /// principal when the token was issued (a token keeps the roles it was issued with, as a
    /// real JWT does: a grant changed later takes effect with the next token). Empty for ARM.
    pub(crate) roles: Vec<String>,
    /// The `appidacr` claim: `"1"` for a client secret, `"2"` for a client assertion
    /// (certificate or federated token), as Entra's v1.0 access tokens carry it
    /// (learn.microsoft.com/entra/identity-platform/access-token-claims-reference).
    pub(crate) appidacr: &'static str,
}

#[derive(Debug, Clone)]
struct Issued {
    identity: Identity,
    expires_at: SystemTime,
}

/// Why a presented token is not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TokenRejection {
    Unknown,
    Expired { expired_at: SystemTime },
}

#[derive(Default)]
pub(crate) struct TokenStore {
    tokens: Mutex<HashMap<String, Issued>>,
}

impl TokenStore {
    /// Issues a fresh token valid for `lifetime`.
    pub(crate) fn issue(&self, identity: Identity, lifetime: Duration) -> String {
        let token = format!(
            "simtok.{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        let now = SystemTime::now();
        let mut tokens = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        if tokens.len() >= PRUNE_THRESHOLD {
            tokens.retain(|_, issued| issued.expires_at > now);
        }
        tokens.insert(
            token.clone(),
            Issued {
                identity,
                expires_at: now + lifetime,
            },
        );
        token
    }

    /// The identity behind a presented token, if it is known and still valid.
    pub(crate) fn validate(
        &self,
        token: &str,
        now: SystemTime,
    ) -> Result<Identity, TokenRejection> {
        let tokens = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        let issued = tokens.get(token).ok_or(TokenRejection::Unknown)?;
        if issued.expires_at <= now {
            return Err(TokenRejection::Expired {
                expired_at: issued.expires_at,
            });
        }
        Ok(issued.identity.clone())
    }

    /// Makes every issued token expired, as if an hour had passed.
    pub(crate) fn expire_all(&self) {
        let past = SystemTime::now() - Duration::from_secs(1);
        for issued in self
            .tokens
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values_mut()
        {
            issued.expires_at = issued.expires_at.min(past);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity() -> Identity {
        Identity {
            tenant_id: "t".into(),
            client_id: "c".into(),
            object_id: "o".into(),
            audience: Audience::Arm,
            roles: Vec::new(),
            appidacr: "1",
        }
    }

    #[test]
    fn issue_validate_expire() {
        let store = TokenStore::default();
        let token = store.issue(identity(), Duration::from_secs(3599));
        let other = store.issue(identity(), Duration::from_secs(3599));
        assert_ne!(token, other);
        assert_eq!(store.validate(&token, SystemTime::now()), Ok(identity()));
        assert_eq!(
            store.validate("nope", SystemTime::now()),
            Err(TokenRejection::Unknown)
        );
        store.expire_all();
        assert!(matches!(
            store.validate(&token, SystemTime::now()),
            Err(TokenRejection::Expired { .. })
        ));
    }
}
