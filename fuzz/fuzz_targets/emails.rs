//! The `emails` string of a contact: what people type in the portal, and our canonical form.
#![no_main]

use libfuzzer_sys::fuzz_target;
use security_contact_operator::emails::{contains, is_valid, join, missing, split};

fuzz_target!(|data: &[u8]| {
    // Lossy, so every input is a string: ARM's JSON strings are always valid UTF-8.
    let value = String::from_utf8_lossy(data);
    let list = split(&value);
    for (i, address) in list.iter().enumerate() {
        assert!(!address.is_empty());
        assert_eq!(address.trim(), address, "untrimmed item in {list:?}");
        assert!(
            !address.contains([';', ',']),
            "separator kept in {address:?}"
        );
        // Repeats are dropped: no earlier item equals this one ignoring ASCII case.
        assert!(
            !contains(&list[..i], address),
            "repeat {address:?} in {list:?}"
        );
        assert!(contains(&list, address));
        assert!(contains(&list, &address.to_ascii_uppercase()));
    }
    // What we write reads back as the same list: the canonical form is a fixed point, so a
    // contact we wrote is never seen as drift.
    let canonical = join(&list);
    assert_eq!(split(&canonical), list, "{canonical:?}");
    assert_eq!(join(&split(&canonical)), canonical);
    assert!(missing(&list, &list).is_empty());
    // A valid address is one item on its own: no separator, no space to trim.
    if is_valid(&value) {
        assert_eq!(list, [value.as_ref()]);
    }
});
