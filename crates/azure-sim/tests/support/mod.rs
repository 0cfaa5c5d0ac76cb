//! Shared helpers for the simulator integration tests: a reqwest client that trusts the
//! simulator's CA, real `azure_identity` credentials pointed at its token endpoint, and small
//! ARM request helpers.
#![allow(dead_code)] // each test binary uses a different subset

use std::path::PathBuf;
use std::sync::{Arc, LazyLock};
use std::time::{SystemTime, UNIX_EPOCH};

use azure_core::cloud::{CloudConfiguration, CustomConfiguration};
use azure_core::credentials::{Secret, TokenCredential};
use azure_core::http::{ClientOptions, Transport};
use azure_identity::{
    ClientSecretCredential, ClientSecretCredentialOptions, WorkloadIdentityCredential,
    WorkloadIdentityCredentialOptions,
};
use azure_sim::{
    ACTIVITY_LOG_API_VERSION, Access, DEFAULT_FEDERATED_AUDIENCE, FederatedCredentialSeed,
    GRAPH_SCOPE, OidcIssuerSeed, OrganizationSeed, PrincipalSeed, SECURITY_CONTACTS_API_VERSION,
    SimConfig, SimHandle, Simulator, SubscriptionSeed, TenantSeed,
};
use jsonwebtoken::jwk::{Jwk, JwkSet, PublicKeyUse};
use jsonwebtoken::{Algorithm, EncodingKey, Header};

pub const ARM_SCOPE: &str = "https://management.azure.com/.default";
pub const TENANT: &str = "00000000-0000-0000-0000-00000000aaaa";
pub const OTHER_TENANT: &str = "00000000-0000-0000-0000-00000000bbbb";
pub const WRITER: &str = "writer-app";
pub const WRITER_SECRET: &str = "writer-secret-value";
pub const WRITER_OID: &str = "11111111-aaaa-aaaa-aaaa-000000000001";
pub const READER: &str = "reader-app";
pub const READER_SECRET: &str = "reader-secret-value";
pub const READER_OID: &str = "11111111-aaaa-aaaa-aaaa-000000000002";
/// Signs in with projected tokens of `SA_NAMESPACE/SA_NAME` issued by [`issuer`].
pub const FEDERATED: &str = "federated-app";
/// The test cluster's service-account issuer (`--service-account-issuer`).
pub const ISSUER: &str = "https://oidc.sim-cluster.example/3f1c2a/";
pub const ISSUER_KID: &str = "sim-cluster-key-1";
pub const SA_NAMESPACE: &str = "sco-system";
pub const SA_NAME: &str = "security-contact-operator";
pub const OUTSIDER: &str = "outsider-app";
pub const OUTSIDER_SECRET: &str = "outsider-secret-value";

/// `SUBS[0..5]` are in `TENANT`; `FOREIGN_SUB` is in `OTHER_TENANT`.
pub const SUBS: [&str; 5] = [
    "aaaaaaaa-0000-0000-0000-000000000001",
    "aaaaaaaa-0000-0000-0000-000000000002",
    "aaaaaaaa-0000-0000-0000-000000000003",
    "aaaaaaaa-0000-0000-0000-000000000004",
    "aaaaaaaa-0000-0000-0000-000000000005",
];
/// Writer has readWrite on SUBS[0..=3], nothing on SUBS[4]; reader has read on all.
pub const HIDDEN_SUB: &str = SUBS[4];
pub const FOREIGN_SUB: &str = "bbbbbbbb-0000-0000-0000-000000000001";
pub const UNKNOWN_SUB: &str = "cccccccc-0000-0000-0000-000000000001";

/// A small world used by most tests. Microsoft Graph: `TENANT`'s organization is "Contoso"
/// with technical contact `it-admin@contoso.com`; the writer holds `Organization.ReadWrite.All`,
/// the reader `Organization.Read.All`, the federated app no Graph permission, the outsider
/// `Organization.ReadWrite.All` in its own tenant.
pub fn world() -> SimConfig {
    let mut writer_access: std::collections::BTreeMap<String, Access> = SUBS[..4]
        .iter()
        .map(|s| ((*s).to_owned(), Access::ReadWrite))
        .collect();
    writer_access.insert(HIDDEN_SUB.to_owned(), Access::None);
    SimConfig {
        tenants: vec![
            TenantSeed {
                id: TENANT.into(),
                principals: vec![
                    PrincipalSeed {
                        client_id: WRITER.into(),
                        client_secret: Some(WRITER_SECRET.into()),
                        object_id: Some(WRITER_OID.into()),
                        access: writer_access,
                        ..PrincipalSeed::default()
                    },
                    PrincipalSeed {
                        object_id: Some(READER_OID.into()),
                        ..PrincipalSeed::with_secret(READER, READER_SECRET, Access::Read)
                    },
                    PrincipalSeed::federated(
                        FEDERATED,
                        vec![FederatedCredentialSeed::kubernetes(
                            ISSUER,
                            SA_NAMESPACE,
                            SA_NAME,
                        )],
                        Access::ReadWrite,
                    ),
                ],
                subscriptions: SUBS.iter().map(|s| SubscriptionSeed::new(*s)).collect(),
                management_groups: Vec::new(),
            },
            TenantSeed {
                id: OTHER_TENANT.into(),
                principals: vec![PrincipalSeed::with_secret(
                    OUTSIDER,
                    OUTSIDER_SECRET,
                    Access::ReadWrite,
                )],
                subscriptions: vec![SubscriptionSeed::new(FOREIGN_SUB)],
                management_groups: Vec::new(),
            },
        ],
        oidc_issuers: vec![issuer().seed()],
        organizations: [(
            TENANT.to_owned(),
            OrganizationSeed {
                display_name: Some("Contoso".into()),
                technical_notification_mails: vec!["it-admin@contoso.com".into()],
                ..OrganizationSeed::default()
            },
        )]
        .into(),
        graph_permissions: [
            (
                WRITER.to_owned(),
                vec!["Organization.ReadWrite.All".to_owned()],
            ),
            (READER.to_owned(), vec!["Organization.Read.All".to_owned()]),
            (
                OUTSIDER.to_owned(),
                vec!["Organization.ReadWrite.All".to_owned()],
            ),
        ]
        .into(),
        ..SimConfig::default()
    }
}

/// An OIDC issuer of the tests' own: a key pair (generated with rcgen), its public JWKS, and
/// JWTs signed with it, like a Kubernetes API server's service-account tokens.
pub struct TestIssuer {
    pub url: String,
    pub kid: String,
    alg: Algorithm,
    key: EncodingKey,
    /// `{"keys": [<the public key>]}`, as `/openid/v1/jwks` serves it.
    pub jwks: serde_json::Value,
}

impl TestIssuer {
    /// An RS256 issuer (what Kubernetes uses by default).
    pub fn rsa(url: &str, kid: &str) -> TestIssuer {
        let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).expect("RSA key");
        let key = EncodingKey::from_rsa_der(pkcs1_of_pkcs8(&pair.serialize_der()));
        TestIssuer::new(url, kid, Algorithm::RS256, key)
    }

    /// An ES256 issuer (an API server with an EC service-account key).
    pub fn ec(url: &str, kid: &str) -> TestIssuer {
        let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("EC key");
        let key = EncodingKey::from_ec_der(&pair.serialize_der());
        TestIssuer::new(url, kid, Algorithm::ES256, key)
    }

    fn new(url: &str, kid: &str, alg: Algorithm, key: EncodingKey) -> TestIssuer {
        let mut jwk = Jwk::from_encoding_key(&key, alg).expect("public JWK");
        jwk.common.key_id = Some(kid.to_owned());
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        let jwks = serde_json::to_value(JwkSet { keys: vec![jwk] }).expect("JWKS JSON");
        TestIssuer {
            url: url.to_owned(),
            kid: kid.to_owned(),
            alg,
            key,
            jwks,
        }
    }

    pub fn seed(&self) -> OidcIssuerSeed {
        OidcIssuerSeed::new(self.url.clone(), self.jwks.clone())
    }

    /// Signs `claims` with this issuer's key and `kid`.
    pub fn sign(&self, claims: &serde_json::Value) -> String {
        let mut header = Header::new(self.alg);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.key).expect("JWT signs")
    }

    /// Claims shaped like a projected service-account token of `namespace/name`, issued now
    /// and valid for an hour.
    pub fn service_account_claims(&self, namespace: &str, name: &str) -> serde_json::Value {
        let now = unix_now();
        serde_json::json!({
            "aud": [DEFAULT_FEDERATED_AUDIENCE],
            "exp": now + 3600,
            "iat": now,
            "nbf": now,
            "iss": self.url,
            "jti": uuid::Uuid::new_v4().to_string(),
            "kubernetes.io": {
                "namespace": namespace,
                "serviceaccount": {"name": name, "uid": uuid::Uuid::new_v4().to_string()},
            },
            "sub": format!("system:serviceaccount:{namespace}:{name}"),
        })
    }

    /// A valid token of the operator's service account, signed by this issuer.
    pub fn operator_token(&self) -> String {
        self.sign(&self.service_account_claims(SA_NAMESPACE, SA_NAME))
    }
}

/// The PKCS#1 `RSAPrivateKey` inside a PKCS#8 `PrivateKeyInfo` (what rcgen serialises;
/// jsonwebtoken's aws-lc-rs signer wants PKCS#1): the content of its third element, the
/// `privateKey` OCTET STRING. Enough DER for this one well-formed input, not a parser.
fn pkcs1_of_pkcs8(der: &[u8]) -> &[u8] {
    /// Splits one DER element off `input`: (tag, content, rest).
    fn element(input: &[u8]) -> (u8, &[u8], &[u8]) {
        let (tag, first) = (input[0], usize::from(input[1]));
        let (len, header) = if first < 0x80 {
            (first, 2)
        } else {
            let n = first & 0x7f;
            let len = input[2..2 + n]
                .iter()
                .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
            (len, 2 + n)
        };
        let (content, rest) = input[header..].split_at(len);
        (tag, content, rest)
    }
    let (tag, info, _) = element(der);
    assert_eq!(tag, 0x30, "PrivateKeyInfo is a SEQUENCE");
    let (_, _, rest) = element(info); // version
    let (_, _, rest) = element(rest); // privateKeyAlgorithm
    let (tag, private_key, _) = element(rest);
    assert_eq!(tag, 0x04, "privateKey is an OCTET STRING");
    private_key
}

/// The issuer of [`world`], shared by the tests of a binary (RSA key generation is slow).
pub fn issuer() -> &'static TestIssuer {
    static ISSUER_KEYS: LazyLock<TestIssuer> =
        LazyLock::new(|| TestIssuer::rsa(ISSUER, ISSUER_KID));
    &ISSUER_KEYS
}

pub fn unix_now() -> i64 {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs();
    i64::try_from(secs).expect("seconds fit")
}

pub async fn start(config: SimConfig) -> SimHandle {
    Simulator::start(config).await.expect("simulator starts")
}

/// A reqwest client that trusts only the simulator's CA.
pub fn http(sim: &SimHandle) -> reqwest::Client {
    let ca = reqwest::Certificate::from_pem(sim.ca_pem().as_bytes()).expect("CA PEM");
    reqwest::Client::builder()
        .tls_certs_only([ca])
        .build()
        .expect("reqwest client")
}

/// azure_core client options: simulator as authority host, its CA trusted, no retries (so
/// tests see every answer).
pub fn client_options(sim: &SimHandle) -> ClientOptions {
    let mut cloud = CustomConfiguration::default();
    cloud.authority_host = sim.url().as_str().trim_end_matches('/').to_owned();
    ClientOptions {
        transport: Some(Transport::new(Arc::new(http(sim)))),
        cloud: Some(Arc::new(CloudConfiguration::from(cloud))),
        retry: azure_core::http::RetryOptions::none(),
        ..ClientOptions::default()
    }
}

pub fn secret_credential(
    sim: &SimHandle,
    tenant: &str,
    client_id: &str,
    secret: &str,
) -> Arc<ClientSecretCredential> {
    ClientSecretCredential::new(
        tenant,
        client_id.to_owned(),
        Secret::new(secret.to_owned()),
        Some(ClientSecretCredentialOptions {
            client_options: client_options(sim),
        }),
    )
    .expect("credential")
}

/// A token from the simulator's token endpoint, obtained by the real `ClientSecretCredential`.
pub async fn token(sim: &SimHandle, tenant: &str, client_id: &str, secret: &str) -> String {
    secret_credential(sim, tenant, client_id, secret)
        .get_token(&[ARM_SCOPE], None)
        .await
        .expect("token")
        .token
        .secret()
        .to_owned()
}

pub async fn writer_token(sim: &SimHandle) -> String {
    token(sim, TENANT, WRITER, WRITER_SECRET).await
}

/// A Microsoft Graph token (scope `https://graph.microsoft.com/.default`), obtained by the real
/// `ClientSecretCredential`.
pub async fn graph_token(sim: &SimHandle, tenant: &str, client_id: &str, secret: &str) -> String {
    secret_credential(sim, tenant, client_id, secret)
        .get_token(&[GRAPH_SCOPE], None)
        .await
        .expect("Graph token")
        .token
        .secret()
        .to_owned()
}

/// `GET|PATCH /v1.0/organization/{id}` (the collection when `id` is `None`).
pub fn organization_url(sim: &SimHandle, id: Option<&str>) -> String {
    match id {
        Some(id) => format!("{}v1.0/organization/{id}", sim.url()),
        None => format!("{}v1.0/organization", sim.url()),
    }
}

/// Activity Logs - List for `sub` with `filter` (and `select`), URL-encoded.
pub fn activity_log_url(
    sim: &SimHandle,
    sub: &str,
    filter: Option<&str>,
    select: Option<&str>,
) -> String {
    let mut url = sim
        .url()
        .join(&format!(
            "subscriptions/{sub}/providers/Microsoft.Insights/eventtypes/management/values"
        ))
        .expect("url");
    {
        let mut pairs = url.query_pairs_mut();
        pairs.append_pair("api-version", ACTIVITY_LOG_API_VERSION);
        if let Some(filter) = filter {
            pairs.append_pair("$filter", filter);
        }
        if let Some(select) = select {
            pairs.append_pair("$select", select);
        }
    }
    url.into()
}

/// The id ARM gives the subscription's security contact.
pub fn contact_id(sub: &str) -> String {
    format!("/subscriptions/{sub}/providers/Microsoft.Security/securityContacts/default")
}

/// A workload-identity credential reading `assertion` from a temporary token file.
pub fn workload_credential(
    sim: &SimHandle,
    client_id: &str,
    assertion: &str,
) -> (Arc<WorkloadIdentityCredential>, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path: PathBuf = dir.path().join("token");
    std::fs::write(&path, assertion).expect("write token file");
    let mut options = WorkloadIdentityCredentialOptions::default();
    options.credential_options.client_options = client_options(sim);
    options.client_id = Some(client_id.to_owned());
    options.tenant_id = Some(TENANT.to_owned());
    options.token_file_path = Some(path);
    let credential = WorkloadIdentityCredential::new(Some(options)).expect("credential");
    (credential, dir)
}

pub fn contact_url(sim: &SimHandle, sub: &str) -> String {
    format!(
        "{}subscriptions/{sub}/providers/Microsoft.Security/securityContacts/default?api-version={SECURITY_CONTACTS_API_VERSION}",
        sim.url()
    )
}

pub fn contacts_url(sim: &SimHandle, sub: &str) -> String {
    format!(
        "{}subscriptions/{sub}/providers/Microsoft.Security/securityContacts?api-version={SECURITY_CONTACTS_API_VERSION}",
        sim.url()
    )
}

/// Sends a request and returns status, headers and the body as JSON (`Null` when empty).
pub async fn send(
    request: reqwest::RequestBuilder,
) -> (u16, reqwest::header::HeaderMap, serde_json::Value) {
    let response = request.send().await.expect("request completes");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.expect("body");
    let body = if bytes.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_slice(&bytes).expect("JSON body")
    };
    (status, headers, body)
}

pub fn header<'h>(headers: &'h reqwest::header::HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

pub fn sample_properties() -> serde_json::Value {
    serde_json::json!({
        "emails": "a@contoso.com;b@contoso.com",
        "phone": "",
        "isEnabled": true,
        "notificationsByRole": {"state": "On", "roles": ["Owner"]},
        "notificationsSources": [
            {"sourceType": "Alert", "minimalSeverity": "Medium"},
            {"sourceType": "AttackPath", "minimalRiskLevel": "Critical"}
        ]
    })
}
