//! The committed CRDs are generated from the Rust types: the one in `crds/` and the Helm chart's
//! copy. These fail on drift and say how to fix it.

use security_contact_operator::crd::crd_yaml;

const PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/crds/securitycontactpolicies.securitycontact.dev.yaml"
);

const CHART_PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/charts/security-contact-operator/crds/securitycontactpolicies.securitycontact.dev.yaml"
);

#[test]
fn committed_crd_matches_code() {
    let generated = crd_yaml();
    if std::env::var_os("BLESS").is_some() {
        std::fs::write(PATH, &generated).expect("write the CRD");
    }
    let committed = std::fs::read_to_string(PATH).unwrap_or_default();
    assert!(
        committed == generated,
        "crds/ drifted from src/crd.rs: run `BLESS=1 cargo test --test crd` and commit crds/"
    );
}

#[test]
fn chart_crd_matches_code() {
    let generated = crd_yaml();
    if std::env::var_os("BLESS").is_some() {
        std::fs::write(CHART_PATH, &generated).expect("write the chart's CRD");
    }
    let committed = std::fs::read_to_string(CHART_PATH).unwrap_or_default();
    assert!(
        committed == generated,
        "charts/security-contact-operator/crds/ drifted from src/crd.rs: run \
         `BLESS=1 cargo test --test crd` and commit charts/security-contact-operator/crds/"
    );
}
