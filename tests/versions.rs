//! One version, from Cargo.toml: the chart's `version` and `appVersion` (the default image tag)
//! must not drift from the crate's.

#[test]
fn the_chart_carries_the_crate_version() {
    let chart = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/charts/security-contact-operator/Chart.yaml"
    ))
    .unwrap();
    let field = |name: &str| {
        chart
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}:")))
            .map(|v| v.trim().trim_matches('"').to_owned())
            .unwrap_or_else(|| panic!("Chart.yaml has no {name}"))
    };
    let crate_version = env!("CARGO_PKG_VERSION");
    assert_eq!(field("version"), crate_version, "Chart.yaml version");
    assert_eq!(field("appVersion"), crate_version, "Chart.yaml appVersion");
}
