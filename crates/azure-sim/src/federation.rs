//! Workload identity federation: the OIDC issuers' signing keys and the checks Entra makes on a
//! client assertion before it honours one of the application's federated identity credentials.
//!
//! Real Entra finds an issuer's keys through `<issuer>/.well-known/openid-configuration` and its
//! `jwks_uri`; here the keys are handed over as the JWKS document itself (config `oidcIssuers`
//! or the control API), because the tests fetch it from the real issuer (a Kubernetes API
//! server's `/openid/v1/jwks`) themselves. Signatures are verified by `jsonwebtoken` on
//! aws-lc-rs; nothing here is hand-written cryptography.
//!
//! The order of the checks, and what each failure becomes, is in [`check`]; `entra.rs` turns a
//! [`Rejection`] into Entra's error. The assertion itself never appears in a rejection.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, Validation};
use serde::Deserialize;

use super::config::FederatedCredentialSeed;

/// The signature algorithms accepted in assertions. Entra documents RS256 as the supported
/// algorithm for federated tokens and says others "may work, but haven't been tested"
/// (<https://learn.microsoft.com/entra/workload-id/workload-identity-federation-considerations#supported-signing-algorithms-and-issuers>);
/// the simulator also takes the other RSA and the P-256/P-384 ECDSA ones, since a Kubernetes
/// API server can sign with an EC key.
pub(crate) const SUPPORTED_ALGORITHMS: [Algorithm; 8] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
];

/// Tolerance for `exp` and `nbf`: five minutes, the default clock skew of
/// Microsoft.IdentityModel's token validation. UNVERIFIED: Entra does not publish the skew it
/// allows client assertions.
pub(crate) const CLOCK_SKEW: Duration = Duration::from_secs(300);

/// One public key of an issuer's JWKS.
struct VerificationKey {
    kid: Option<String>,
    /// The JWK's `alg`, when it names one: the key then verifies only that algorithm.
    alg: Option<Algorithm>,
    family: AlgorithmFamily,
    key: DecodingKey,
}

/// The verification keys of one OIDC issuer, parsed from its JWKS.
pub(crate) struct IssuerKeys {
    keys: Vec<VerificationKey>,
}

impl std::fmt::Debug for IssuerKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.keys.iter().map(|k| k.kid.as_deref().unwrap_or("")))
            .finish()
    }
}

impl IssuerKeys {
    /// Parses a JWKS document (`{"keys": [...]}`). Keys marked `"use": "enc"` are skipped;
    /// any other key must be an RSA or P-256/P-384 EC public key, so that a mistyped seed
    /// fails loudly instead of silently rejecting every assertion (a symmetric `oct` key in a
    /// public JWKS would also let anyone forge assertions).
    pub(crate) fn from_jwks(jwks: &serde_json::Value) -> Result<IssuerKeys, String> {
        let entries = jwks
            .get("keys")
            .and_then(serde_json::Value::as_array)
            .ok_or("a JWKS must be a JSON object with a \"keys\" array")?;
        let mut keys = Vec::with_capacity(entries.len());
        for (i, entry) in entries.iter().enumerate() {
            let jwk: Jwk = serde_json::from_value(entry.clone())
                .map_err(|e| format!("JWKS key {i} is not a JSON Web Key: {e}"))?;
            if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
                continue;
            }
            let family = match &jwk.algorithm {
                AlgorithmParameters::RSA(_) => AlgorithmFamily::Rsa,
                AlgorithmParameters::EllipticCurve(ec)
                    if matches!(ec.curve, EllipticCurve::P256 | EllipticCurve::P384) =>
                {
                    AlgorithmFamily::Ec
                }
                _ => {
                    return Err(format!(
                        "JWKS key {i} is neither an RSA nor a P-256/P-384 EC public key"
                    ));
                }
            };
            let alg = match jwk.common.key_algorithm {
                None => None,
                Some(named) => Some(
                    Algorithm::try_from(named)
                        .ok()
                        .filter(|alg| alg.family() == family)
                        .ok_or_else(|| {
                            format!("JWKS key {i}: alg {named} does not fit its key type")
                        })?,
                ),
            };
            let key = DecodingKey::from_jwk(&jwk)
                .map_err(|e| format!("JWKS key {i} is not a valid public key: {e}"))?;
            keys.push(VerificationKey {
                kid: jwk.common.key_id.clone(),
                alg,
                family,
                key,
            });
        }
        Ok(IssuerKeys { keys })
    }

    fn by_kid(&self, kid: &str) -> Option<&VerificationKey> {
        self.keys.iter().find(|k| k.kid.as_deref() == Some(kid))
    }
}

/// Why an assertion was refused, in the order [`check`] finds out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Rejection {
    /// Not three base64url segments of JSON, or a header `alg` that is no JWS algorithm.
    Malformed,
    /// `iss`, `sub` or `aud` is absent (or empty).
    MissingClaim(&'static str),
    /// No federated credential of the application names the token's issuer.
    UnknownIssuer { issuer: String },
    /// A JWS algorithm the simulator does not verify (HS256, EdDSA, …).
    UnsupportedAlgorithm { alg: String },
    /// A credential names the issuer, but the simulator was given no JWKS for it (real
    /// Entra: its OpenID configuration could not be fetched).
    IssuerUnreachable,
    /// The header's `kid` (or its absence) selects no key of the issuer's JWKS. `identifier`
    /// is the header's `x5t`, which is what Entra prints; Kubernetes tokens carry none.
    KeyNotFound { identifier: String, issuer: String },
    /// The selected key does not verify the signature.
    BadSignature,
    /// `exp`/`nbf` exclude the simulator's clock (with [`CLOCK_SKEW`]).
    NotInTimeRange {
        now: SystemTime,
        valid_from: SystemTime,
        expires: SystemTime,
    },
    /// A credential has the subject in another letter case (Entra matches case-sensitively).
    SubjectCaseMismatch { subject: String },
    /// No credential of the issuer has the token's subject.
    UnknownSubject { subject: String },
    /// The credentials with the issuer and subject accept none of the token's audiences.
    UnknownAudience { audience: String },
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Audiences {
    One(String),
    Many(Vec<String>),
}

impl Audiences {
    fn values(&self) -> Vec<&str> {
        match self {
            Audiences::One(one) => vec![one.as_str()],
            Audiences::Many(many) => many.iter().map(String::as_str).collect(),
        }
    }
}

/// The registered claims the checks read; every other claim is ignored.
#[derive(Deserialize)]
struct Claims {
    #[serde(default)]
    iss: Option<String>,
    #[serde(default)]
    sub: Option<String>,
    #[serde(default)]
    aud: Option<Audiences>,
    #[serde(default)]
    exp: Option<f64>,
    #[serde(default)]
    nbf: Option<f64>,
    #[serde(default)]
    iat: Option<f64>,
}

/// Checks a client assertion against an application's federated credentials, as Entra does:
///
/// 1. the JWT parses (header and claims) and has `iss`, `sub` and `aud`;
/// 2. some credential's `issuer` equals `iss` exactly;
/// 3. the header's `alg` is supported, the issuer's JWKS is known and has the header's `kid`;
/// 4. that key verifies the signature;
/// 5. `nbf - skew <= now <= exp + skew` (a token without `exp` is never valid);
/// 6. a credential of that issuer has `subject == sub` exactly, and one of those lists one of
///    the token's `aud` values (a string or an array) among its `audiences`.
///
/// UNVERIFIED: the relative order of steps 3 to 6 in real Entra (each failure's code and text
/// are real); steps 2 and 6 follow the codes Entra returns for them.
pub(crate) fn check(
    assertion: &str,
    credentials: &[FederatedCredentialSeed],
    issuers: &HashMap<String, IssuerKeys>,
    now: SystemTime,
) -> Result<(), Rejection> {
    let header = jsonwebtoken::decode_header(assertion).map_err(|_| Rejection::Malformed)?;
    let unverified: Claims = jsonwebtoken::dangerous::insecure_decode_claims(assertion)
        .map_err(|_| Rejection::Malformed)?;
    let issuer = unverified
        .iss
        .as_deref()
        .filter(|iss| !iss.is_empty())
        .ok_or(Rejection::MissingClaim("iss"))?;
    if unverified.sub.as_deref().is_none_or(str::is_empty) {
        return Err(Rejection::MissingClaim("sub"));
    }
    if unverified
        .aud
        .as_ref()
        .is_none_or(|aud| aud.values().is_empty())
    {
        return Err(Rejection::MissingClaim("aud"));
    }

    let trusted: Vec<&FederatedCredentialSeed> =
        credentials.iter().filter(|c| c.issuer == issuer).collect();
    if trusted.is_empty() {
        return Err(Rejection::UnknownIssuer {
            issuer: issuer.to_owned(),
        });
    }

    if !SUPPORTED_ALGORITHMS.contains(&header.alg) {
        return Err(Rejection::UnsupportedAlgorithm {
            alg: format!("{:?}", header.alg),
        });
    }
    let keys = issuers.get(issuer).ok_or(Rejection::IssuerUnreachable)?;
    let key = header
        .kid
        .as_deref()
        .and_then(|kid| keys.by_kid(kid))
        .ok_or_else(|| Rejection::KeyNotFound {
            identifier: header.x5t.clone().unwrap_or_default(),
            issuer: issuer.to_owned(),
        })?;
    if key.family != header.alg.family() || key.alg.is_some_and(|alg| alg != header.alg) {
        return Err(Rejection::BadSignature);
    }
    let mut validation = Validation::new(header.alg);
    validation.required_spec_claims = HashSet::new();
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    let claims = jsonwebtoken::decode::<Claims>(assertion, &key.key, &validation)
        .map_err(|e| match e.kind() {
            ErrorKind::InvalidToken | ErrorKind::Json(_) | ErrorKind::Utf8(_) => {
                Rejection::Malformed
            }
            _ => Rejection::BadSignature,
        })?
        .claims;

    check_time(&claims, now)?;

    // The verified claims are the unverified ones (same bytes), but read them again anyway.
    let subject = claims.sub.as_deref().unwrap_or_default();
    let same_subject: Vec<&&FederatedCredentialSeed> =
        trusted.iter().filter(|c| c.subject == subject).collect();
    if same_subject.is_empty() {
        return Err(
            if trusted
                .iter()
                .any(|c| c.subject.eq_ignore_ascii_case(subject))
            {
                Rejection::SubjectCaseMismatch {
                    subject: subject.to_owned(),
                }
            } else {
                Rejection::UnknownSubject {
                    subject: subject.to_owned(),
                }
            },
        );
    }
    let audiences = claims
        .aud
        .as_ref()
        .map(Audiences::values)
        .unwrap_or_default();
    let accepted = same_subject
        .iter()
        .any(|c| c.audiences.iter().any(|a| audiences.contains(&a.as_str())));
    if !accepted {
        return Err(Rejection::UnknownAudience {
            audience: audiences.join(", "),
        });
    }
    Ok(())
}

fn check_time(claims: &Claims, now: SystemTime) -> Result<(), Rejection> {
    let expires = claims.exp.map(instant).unwrap_or(UNIX_EPOCH);
    let valid_from = claims.nbf.or(claims.iat).map(instant).unwrap_or(UNIX_EPOCH);
    let too_late = claims.exp.is_none() || now > expires + CLOCK_SKEW;
    let too_early = claims.nbf.is_some_and(|_| now + CLOCK_SKEW < valid_from);
    if too_late || too_early {
        return Err(Rejection::NotInTimeRange {
            now,
            valid_from,
            expires,
        });
    }
    Ok(())
}

/// A JWT NumericDate (seconds since the epoch, possibly fractional) as a time; values before
/// the epoch or beyond `SystemTime`'s range clamp to the epoch.
fn instant(seconds: f64) -> SystemTime {
    Duration::try_from_secs_f64(seconds)
        .ok()
        .and_then(|d| UNIX_EPOCH.checked_add(d))
        .unwrap_or(UNIX_EPOCH)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jwks_parsing_takes_public_signing_keys_only() {
        let rsa = serde_json::json!({"keys": [
            {"use": "sig", "kty": "RSA", "kid": "k1", "alg": "RS256", "n": "sXch", "e": "AQAB"},
            {"use": "enc", "kty": "oct", "kid": "skipped", "k": "c2VjcmV0"},
        ]});
        let keys = IssuerKeys::from_jwks(&rsa).expect("RSA JWKS parses");
        assert_eq!(keys.keys.len(), 1);
        assert!(keys.by_kid("k1").is_some());
        assert!(keys.by_kid("skipped").is_none());

        let symmetric = serde_json::json!({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]});
        assert!(IssuerKeys::from_jwks(&symmetric).is_err());
        let wrong_alg =
            serde_json::json!({"keys": [{"kty": "RSA", "alg": "ES256", "n": "sXch", "e": "AQAB"}]});
        assert!(IssuerKeys::from_jwks(&wrong_alg).is_err());
        assert!(IssuerKeys::from_jwks(&serde_json::json!([])).is_err());
        assert!(IssuerKeys::from_jwks(&serde_json::json!({"keys": [{"kty": "RSA"}]})).is_err());
    }

    #[test]
    fn time_range_allows_the_skew_and_requires_exp() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000_000);
        let claims = |exp: Option<f64>, nbf: Option<f64>| Claims {
            iss: None,
            sub: None,
            aud: None,
            exp,
            nbf,
            iat: None,
        };
        assert!(check_time(&claims(Some(1_000_100.0), Some(999_900.0)), now).is_ok());
        assert!(check_time(&claims(Some(999_800.0), None), now).is_ok());
        assert!(check_time(&claims(Some(999_600.0), None), now).is_err());
        assert!(check_time(&claims(Some(1_000_600.0), Some(1_000_400.0)), now).is_err());
        assert!(matches!(
            check_time(&claims(None, None), now),
            Err(Rejection::NotInTimeRange { expires, .. }) if expires == UNIX_EPOCH
        ));
    }

    #[test]
    fn garbage_is_malformed() {
        let none = HashMap::new();
        for assertion in ["", "abc", "a.b.c", "some.other.assertion", "x.y"] {
            assert_eq!(
                check(assertion, &[], &none, SystemTime::now()),
                Err(Rejection::Malformed),
                "{assertion}"
            );
        }
    }
}
