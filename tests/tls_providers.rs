//! kube with default features compiles rustls' `ring` provider while azure/reqwest compile
//! `aws-lc-rs`; with both, the first kube Client panics ("Could not automatically determine the
//! process-level CryptoProvider"). This builds both clients in one process to catch a
//! regression in the feature set within milliseconds.

#[tokio::test]
async fn a_kube_client_and_an_arm_client_live_in_one_process() {
    let config = kube::Config::new("https://127.0.0.1:6443".parse().unwrap());
    let kube = kube::Client::try_from(config).expect("a kube client over rustls");
    let http = security_contact_operator::arm::http_client(std::time::Duration::from_secs(5), None)
        .expect("a reqwest client over rustls");
    drop((kube, http));
}
