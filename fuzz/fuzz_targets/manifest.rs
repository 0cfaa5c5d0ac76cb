//! `SecurityContactPolicy` manifests as the one-shot CLI reads them from disk.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use security_contact_operator::{
    crd::{GROUP, KIND, VERSION},
    manifest::parse,
    validate::validate,
};

fuzz_target!(|data: &[u8]| {
    // Files are read with `read_to_string`: only UTF-8 text ever reaches `parse`.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("fuzz.yaml");
    let (mut loaded, mut problems) = (Vec::new(), Vec::new());
    parse(path, text, &mut loaded, &mut problems);

    for problem in &problems {
        assert_eq!(problem.source, path);
        let _ = problem.to_string();
    }
    let mut previous = 0;
    for policy in &loaded {
        // What the CLI acts on is exactly what the API server would admit.
        assert!(validate(&policy.policy.spec).is_ok(), "{policy:?}");
        let name = policy.policy.metadata.name.as_deref().unwrap_or_default();
        assert!(!name.is_empty(), "{policy:?}");
        assert_eq!(policy.source, path);
        // Documents are numbered from 1, in file order, one policy each.
        assert!(policy.document > previous, "{loaded:?}");
        previous = policy.document;
        let _ = policy.id();

        // Written back out as the CRD serialises it (JSON is YAML), the spec loads again
        // unchanged: no field is lost to a default or a skip. The spec alone: metadata is not
        // validated (a name may hold characters YAML cannot carry raw) and k8s-openapi writes
        // timestamps to the second though it reads fractions; the CLI never writes either.
        let json = serde_json::json!({
            "apiVersion": format!("{GROUP}/{VERSION}"),
            "kind": KIND,
            "metadata": {"name": "again"},
            "spec": policy.policy.spec,
        })
        .to_string();
        let (mut again, mut trouble) = (Vec::new(), Vec::new());
        parse(path, &json, &mut again, &mut trouble);
        let shown: Vec<String> = trouble.iter().map(ToString::to_string).collect();
        assert!(shown.is_empty(), "{json}: {shown:?}");
        assert_eq!(again.len(), 1, "{json}");
        assert_eq!(again[0].policy.spec, policy.policy.spec, "{json}");
    }
});
