//! Writes planned from fresh reads only.
//!
//! A PUT replaces the whole contact, so a PUT planned from an old read undoes whatever a person
//! changed since. Every attempt therefore starts with a GET and asks the caller's (pure) plan
//! what to write; after a 429 or 5xx the wait is taken and the loop starts over from a new GET,
//! never by re-sending the old body. When the contact carries an etag the PUT sends `If-Match`,
//! and a 412 (changed between our GET and PUT) starts over too. After a successful PUT the
//! contact is read back once, so compliance is judged on what ARM holds, not on what we sent.

use std::time::Duration;

use super::{ArmClient, ArmError, wire::ContactProperties};

/// A write to a subscription's contact.
#[derive(Clone, Debug, PartialEq)]
pub enum Write {
    /// Replace the contact with these properties.
    Put(ContactProperties),
    /// Delete the contact.
    Delete,
}

/// What one fresh write did.
#[derive(Debug)]
pub struct FreshWrite<T> {
    /// The contact as last read, the one the write (if any) was planned from.
    pub before: Option<ContactProperties>,
    /// The caller's decision, when something was written.
    pub written: Option<T>,
    /// The write created the contact (ARM answered 201).
    pub created: bool,
    /// What ARM holds afterwards: read back after a write, else `before`.
    pub after: Option<ContactProperties>,
}

impl ArmClient {
    /// Read → `decide` → write once, until the write lands, `decide` asks for nothing, or a
    /// failure is not worth retrying. `decide` sees the fresh contact and returns the write
    /// plus what to remember about the decision.
    pub async fn write_fresh<T>(
        &self,
        subscription: &str,
        decide: impl FnMut(Option<&ContactProperties>) -> Option<(Write, T)>,
    ) -> Result<FreshWrite<T>, ArmError> {
        self.write_fresh_from(subscription, None, decide).await
    }

    /// [`ArmClient::write_fresh`], whose first plan starts from `first`: a read the caller
    /// made an instant ago while holding the subscription's write lock (so nothing of ours
    /// can have come between). Retries read again as usual.
    pub async fn write_fresh_from<T>(
        &self,
        subscription: &str,
        mut first: Option<Option<super::wire::SecurityContact>>,
        mut decide: impl FnMut(Option<&ContactProperties>) -> Option<(Write, T)>,
    ) -> Result<FreshWrite<T>, ArmError> {
        let mut retries = 0;
        loop {
            let read = match first.take() {
                Some(read) => read,
                None => self.get_contact(subscription).await?,
            };
            let etag = read.as_ref().and_then(|c| c.etag()).map(str::to_owned);
            let before = read.map(|c| c.properties);
            let Some((write, decision)) = decide(before.as_ref()) else {
                return Ok(FreshWrite {
                    after: before.clone(),
                    before,
                    written: None,
                    created: false,
                });
            };
            let outcome = match &write {
                Write::Put(desired) => self
                    .put_contact(subscription, desired, etag.as_deref())
                    .await
                    .map(|w| (w.created, Some(w.contact.properties))),
                Write::Delete => self
                    .delete_contact(subscription)
                    .await
                    .map(|_| (false, None)),
            };
            match outcome {
                Ok((created, answered)) => {
                    // Every write to Azure is worth a line in the operator's log.
                    let op = if matches!(write, Write::Delete) {
                        "deleted"
                    } else {
                        "wrote"
                    };
                    tracing::info!(subscription, created, "{op} the security contact");
                    let after = match self.get_contact(subscription).await {
                        Ok(contact) => contact.map(|c| c.properties),
                        Err(e) => {
                            // The write landed; judge on ARM's answer to it rather than fail.
                            tracing::warn!(
                                subscription,
                                "cannot read back the contact after a write: {e}"
                            );
                            answered
                        }
                    };
                    return Ok(FreshWrite {
                        before,
                        written: Some(decision),
                        created,
                        after,
                    });
                }
                Err(e) if worth_another_read(&e) && retries < self.retry.max_retries => {
                    let wait = e.retry_after().unwrap_or_else(|| self.backoff(retries));
                    if wait > self.retry.max_retry_after {
                        return Err(e);
                    }
                    self.retrying(
                        &e,
                        wait,
                        &format!("{subscription}: write not applied, will read again and re-plan"),
                    );
                    tokio::time::sleep(wait).await;
                    retries += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Exponential backoff with jitter when ARM gave no `Retry-After`.
    fn backoff(&self, retries: usize) -> Duration {
        let exponential = self
            .retry
            .min_delay
            .saturating_mul(1 << retries.min(16))
            .min(self.retry.max_delay);
        exponential.mul_f64(0.5 + fastrand::f64() * 0.5)
    }
}

/// Throttling, 5xx and lost connections pass; 412 means the contact changed under us.
fn worth_another_read(e: &ArmError) -> bool {
    e.is_transient() || e.status() == Some(412)
}
