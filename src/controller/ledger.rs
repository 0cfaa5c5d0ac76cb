//! What a policy added, per subscription, so `deletionPolicy: Revert` removes exactly that.
//!
//! Kept in a ConfigMap in the operator's own namespace, named after the policy's UID, with no
//! owner reference. Not in the policy's namespace and not owned by the policy, because then
//! deleting the namespace, or a foreground delete (Argo CD's prune), removes the ledger before
//! the policy's cleanup runs, and Revert silently does nothing. Not on the policy object either:
//! at 10,000 subscriptions it is hundreds of KiB, and the status is rewritten by every pass.
//! Keeping every ledger in one namespace also means the operator needs ConfigMap rights there
//! only.
//!
//! Addresses are numbered once and each subscription stores a hexadecimal bitmask over them:
//! 10,000 subscriptions with every address added take about 500 KiB, under the 1 MiB object
//! limit. An address is recorded only after a PUT that ARM confirmed (read back): a crash in
//! between forgets an addition (Revert then leaves that address) rather than ever claiming an
//! address someone else put there. An address a person removed is forgotten at the next pass:
//! if they add it back later, it is theirs.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::ConfigMap;
use kube::{
    Api, ResourceExt,
    api::{DeleteParams, Patch, PatchParams},
};
use serde::{Deserialize, Serialize};

use crate::{Error, Result, crd::SecurityContactPolicy, emails};

const KEY: &str = "ledger.json";

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ledger {
    addresses: Vec<String>,
    /// subscription (lower case) → hex bitmask over `addresses`, lowest bit first.
    subscriptions: BTreeMap<String, String>,
    /// Subscriptions whose contact this policy created (ARM answered 201).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    created: BTreeSet<String>,
}

impl Ledger {
    /// Records that this policy added `added` to `subscription`; true when something new.
    pub fn record(&mut self, subscription: &str, added: &[String]) -> bool {
        let key = subscription.to_ascii_lowercase();
        let mut bits = decode(self.subscriptions.get(&key));
        let mut changed = false;
        for address in added {
            let index = match self
                .addresses
                .iter()
                .position(|a| a.eq_ignore_ascii_case(address))
            {
                Some(i) => i,
                None => {
                    self.addresses.push(address.clone());
                    self.addresses.len() - 1
                }
            };
            if bits.len() <= index {
                bits.resize(index + 1, false);
            }
            changed |= !bits[index];
            bits[index] = true;
        }
        if changed {
            self.subscriptions.insert(key, encode(&bits));
        }
        changed
    }

    /// Records that this policy created `subscription`'s contact; true when new.
    pub fn record_created(&mut self, subscription: &str) -> bool {
        self.created.insert(subscription.to_ascii_lowercase())
    }

    /// Whether this policy created `subscription`'s contact.
    pub fn created(&self, subscription: &str) -> bool {
        self.created.contains(&subscription.to_ascii_lowercase())
    }

    /// Forgets what is no longer ours on `subscription`: addresses not on the contact any more
    /// (`present`), or everything when the contact is gone (`None`). True when something was
    /// forgotten.
    pub fn retain(&mut self, subscription: &str, present: Option<&[String]>) -> bool {
        let key = subscription.to_ascii_lowercase();
        let Some(present) = present else {
            let had = self.subscriptions.remove(&key).is_some();
            return self.created.remove(&key) | had;
        };
        let bits = decode(self.subscriptions.get(&key));
        let kept: Vec<bool> = bits
            .iter()
            .zip(&self.addresses)
            .map(|(on, address)| *on && emails::contains(present, address))
            .collect();
        if kept.iter().zip(&bits).all(|(k, b)| k == b) {
            return false;
        }
        if kept.iter().any(|on| *on) {
            self.subscriptions.insert(key, encode(&kept));
        } else {
            self.subscriptions.remove(&key);
        }
        true
    }

    /// Addresses this policy added to `subscription`.
    pub fn added(&self, subscription: &str) -> Vec<String> {
        let bits = decode(self.subscriptions.get(&subscription.to_ascii_lowercase()));
        self.addresses
            .iter()
            .zip(bits)
            .filter(|(_, on)| *on)
            .map(|(a, _)| a.clone())
            .collect()
    }

    pub fn subscriptions(&self) -> impl Iterator<Item = &String> {
        self.subscriptions.keys()
    }

    pub fn is_empty(&self) -> bool {
        self.subscriptions.is_empty() && self.created.is_empty()
    }
}

fn encode(bits: &[bool]) -> String {
    bits.chunks(4)
        .map(|nibble| {
            let v = nibble
                .iter()
                .enumerate()
                .fold(0u32, |acc, (i, on)| acc | (u32::from(*on) << i));
            char::from_digit(v, 16).unwrap_or('0')
        })
        .collect()
}

fn decode(hex: Option<&String>) -> Vec<bool> {
    hex.map(|h| {
        h.chars()
            .flat_map(|c| {
                let v = c.to_digit(16).unwrap_or(0);
                (0..4).map(move |i| v & (1 << i) != 0)
            })
            .collect()
    })
    .unwrap_or_default()
}

/// The ConfigMap holding `policy`'s ledger: `scp-ledger-<uid>` (a UID is 36 characters).
pub fn name(policy: &SecurityContactPolicy) -> String {
    format!("scp-ledger-{}", policy.uid().unwrap_or_default())
}

/// `policy`'s ledger from `api` (the operator's namespace); empty when there is none.
pub async fn load(api: &Api<ConfigMap>, policy: &SecurityContactPolicy) -> Result<Ledger> {
    let Some(cm) = api
        .get_opt(&name(policy))
        .await
        .map_err(Error::kube(format!("get ConfigMap {}", name(policy))))?
    else {
        return Ok(Ledger::default());
    };
    let text = cm
        .data
        .as_ref()
        .and_then(|d| d.get(KEY))
        .cloned()
        .unwrap_or_default();
    if text.is_empty() {
        return Ok(Ledger::default());
    }
    serde_json::from_str(&text).map_err(|source| Error::LedgerUnreadable {
        name: name(policy),
        source,
    })
}

pub async fn save(
    api: &Api<ConfigMap>,
    policy: &SecurityContactPolicy,
    ledger: &Ledger,
) -> Result<()> {
    let cm = serde_json::json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": name(policy),
            "labels": {
                "app.kubernetes.io/managed-by": "security-contact-operator",
                "securitycontact.dev/policy-namespace": policy.namespace().unwrap_or_default(),
            },
            "annotations": {"securitycontact.dev/policy": format!("{}/{}", policy.namespace().unwrap_or_default(), policy.name_any())},
        },
        // A map of strings always serialises.
        "data": { KEY: serde_json::to_string(ledger).expect("ledger serialises") },
    });
    api.patch(
        &name(policy),
        &PatchParams::apply(super::FIELD_MANAGER).force(),
        &Patch::Apply(cm),
    )
    .await
    .map_err(Error::kube(format!("apply ConfigMap {}", name(policy))))?;
    Ok(())
}

pub async fn delete(api: &Api<ConfigMap>, policy: &SecurityContactPolicy) -> Result<()> {
    match api.delete(&name(policy), &DeleteParams::default()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.is_not_found() => Ok(()),
        Err(e) => Err(Error::kube(format!("delete ConfigMap {}", name(policy)))(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_and_reads_back_per_subscription() {
        let mut l = Ledger::default();
        assert!(l.record("S1", &["a@x.io".into(), "b@x.io".into()]));
        assert!(
            !l.record("s1", &["A@X.io".into()]),
            "already recorded, case-insensitively"
        );
        assert!(l.record("s2", &["c@x.io".into()]));
        assert_eq!(l.added("s1"), vec!["a@x.io", "b@x.io"]);
        assert_eq!(l.added("s2"), vec!["c@x.io"]);
        assert!(l.added("s3").is_empty());
        assert!(l.record_created("S2"));
        assert!(l.created("s2") && !l.created("s1"));
        let json = serde_json::to_string(&l).unwrap();
        assert_eq!(serde_json::from_str::<Ledger>(&json).unwrap(), l);
    }

    #[test]
    fn stays_under_a_mebibyte_at_ten_thousand_subscriptions() {
        let mut l = Ledger::default();
        let all: Vec<String> = (0..50).map(|i| format!("address{i}@contoso.com")).collect();
        for i in 0..10_000 {
            l.record(&format!("{i:08}-0000-0000-0000-000000000000"), &all);
        }
        let size = serde_json::to_string(&l).unwrap().len();
        assert!(size < 1024 * 1024, "ledger is {size} bytes");
        assert_eq!(l.added("00000042-0000-0000-0000-000000000000").len(), 50);
    }

    #[test]
    fn forgets_what_a_person_removed_and_contacts_that_are_gone() {
        let mut l = Ledger::default();
        l.record("s1", &["a@x.io".into(), "b@x.io".into()]);
        l.record("s2", &["a@x.io".into()]);
        l.record_created("s2");
        assert!(!l.retain(
            "s1",
            Some(&["A@x.io".into(), "b@x.io".into(), "c@x.io".into()])
        ));
        assert!(
            l.retain("s1", Some(&["b@x.io".into()])),
            "a person removed a@x.io"
        );
        assert_eq!(l.added("s1"), ["b@x.io"]);
        assert!(l.retain("s1", Some(&[])));
        assert!(l.added("s1").is_empty());
        assert!(l.retain("s2", None), "the contact was deleted");
        assert!(!l.created("s2") && l.added("s2").is_empty());
        assert!(l.is_empty());
    }
}
