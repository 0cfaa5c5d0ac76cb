//! What a policy added, per subscription, so `deletionPolicy: Revert` removes exactly that.
//!
//! Kept in a ConfigMap owned by the policy, so it survives operator restarts. Addresses are
//! numbered once and each subscription stores a hexadecimal bitmask over them: 10,000
//! subscriptions with every address added take about 500 KiB, under the 1 MiB object limit.
//! It is written after a successful PUT: a crash in between forgets an addition (Revert then
//! leaves that address) rather than ever claiming an address someone else put there.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::{
    Api, Resource, ResourceExt,
    api::{DeleteParams, Patch, PatchParams},
};
use serde::{Deserialize, Serialize};

use crate::{Error, Result, crd::SecurityContactPolicy};

const KEY: &str = "ledger.json";

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ledger {
    addresses: Vec<String>,
    /// subscription (lower case) → hex bitmask over `addresses`, lowest bit first.
    subscriptions: BTreeMap<String, String>,
}

impl Ledger {
    /// Records that this policy added `added` to `subscription`; true when something new.
    pub fn record(&mut self, subscription: &str, added: &[String]) -> bool {
        let mut bits = decode(self.subscriptions.get(&subscription.to_ascii_lowercase()));
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
            self.subscriptions
                .insert(subscription.to_ascii_lowercase(), encode(&bits));
        }
        changed
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
        self.subscriptions.is_empty()
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

/// The ConfigMap holding `policy`'s ledger.
pub fn name(policy: &SecurityContactPolicy) -> String {
    let base = policy.name_any();
    // Object names stop at 253 characters; policy names are at most that already.
    let name = format!("{base}-scp-ledger");
    if name.len() <= 253 {
        name
    } else {
        format!("{}-scp-ledger", &base[..242])
    }
}

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
    let owner = policy
        .controller_owner_ref(&())
        .into_iter()
        .collect::<Vec<_>>();
    let cm = serde_json::json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": name(policy),
            "labels": {"app.kubernetes.io/managed-by": "security-contact-operator"},
            "ownerReferences": owner,
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
}
