//! The committed CRDs are generated from the Rust types: the ones in `crds/` and the Helm
//! chart's copies. These fail on drift and say how to fix it.

use security_contact_operator::{access, crd};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Each CRD, its file name, and where it is generated from.
fn crds() -> [(&'static str, String, &'static str); 2] {
    [
        (
            "securitycontactpolicies.securitycontact.dev.yaml",
            crd::crd_yaml(),
            "src/crd.rs",
        ),
        (
            "securitycontactaccesses.securitycontact.dev.yaml",
            access::crd_yaml(),
            "src/access.rs",
        ),
    ]
}

fn check(dir: &str) {
    for (file, generated, source) in crds() {
        let path = format!("{ROOT}/{dir}/{file}");
        if std::env::var_os("BLESS").is_some() {
            std::fs::write(&path, &generated).expect("write the CRD");
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == generated,
            "{dir}/{file} drifted from {source}: run `BLESS=1 cargo test --test crd` and commit {dir}/"
        );
    }
}

#[test]
fn committed_crds_match_code() {
    check("crds");
}

#[test]
fn chart_crds_match_code() {
    check("charts/security-contact-operator/crds");
}
