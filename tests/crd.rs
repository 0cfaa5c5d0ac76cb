//! The committed CRD is generated from the Rust types; this fails on drift and says how to fix it.

use security_contact_operator::crd::crd_yaml;

const PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/crds/securitycontactpolicies.securitycontact.dev.yaml"
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
