//! Who changed a security contact: the write records, and the slice of the Azure Activity Log
//! (`GET /subscriptions/{sub}/providers/Microsoft.Insights/eventtypes/management/values`,
//! "Activity Logs - List", api-version 2015-04-01) that serves them.
//!
//! Every successful write to a contact is recorded: an ARM `PUT` or `DELETE` of
//! `securityContacts/default` (caller: the token's service principal), and a control-API or
//! [`crate::SimState`] edit (a person in the portal; caller: the name given, else
//! [`DEFAULT_PORTAL_CALLER`]). Each write becomes two events, as ARM logs every write, delete
//! and action in the Administrative category: a `BeginRequest` event with status `Started` and
//! an `EndRequest` event with status `Succeeded` ("the records of both the start and success
//! or fail of that operation are recorded", <https://learn.microsoft.com/azure/azure-monitor/platform/activity-log-schema>),
//! sharing one `correlationId` and `operationId`.
//!
//! Sources for the shapes:
//!
//! | what | source |
//! |---|---|
//! | path, `$filter` grammar, `$select`, `nextLink`, `EventData` fields, flat `ErrorResponse` `{code, message}` | Azure/azure-rest-api-specs `specification/monitor/resource-manager/Microsoft.Insights/stable/2015-04-01/activityLogs_API.json` and its example `GetActivityLogsFiltered.json`; <https://learn.microsoft.com/rest/api/monitor/activity-logs/list> |
//! | `$filter` is required, with at least the start time | the same page ("This argument is required and it also requires at least the start date/time"); Azure/azure-rest-api-specs#2467 |
//! | no/bad `$filter` → 400 `{"code":"BadRequest","message":"$filter searching parameters invalid"}` | MicrosoftDocs/feedback#319 (the answer to a request without `$filter`); the same answer for every other malformed filter is UNVERIFIED |
//! | `caller` of a service principal = its object id | `EventData.caller` is "the UPN claim or SPN claim based on availability" (spec above); Azure/azure-powershell#4810 (Microsoft: the caller is computed from the claims); MicrosoftDocs/azure-docs#56412 (a service principal's caller matched `Get-AzADServicePrincipal`'s `Id`, its object id); a real managed-identity event quoted in a public repository (exact location not pinned) whose `caller` equals its `objectidentifier` claim, not its `appid` |
//! | `BeginRequest`/`Started` with empty `subStatus`, `channels: "Operation"`, app claims (`appid`, `appidacr`, `idtyp: app`, `objectidentifier`, …), `properties.{eventCategory, entity, message, hierarchy}`, `tenantId` | real events of the same API quoted in public repositories (exact locations not pinned; the `BeginRequest`/`Begin request` pair appears in several) |
//! | `subStatus` `Created (HTTP Status Code: 201)`, `OK (…200)`, `No Content (…204)` | `EventData.subStatus` in the spec |
//! | 90 days of history | <https://learn.microsoft.com/azure/azure-monitor/platform/activity-log> |
//!
//! UNVERIFIED: the `operationName.localizedValue` texts ("Update security contact", "Delete
//! security contact"), the `nextLink: null` on the last page (the spec only declares the field),
//! `submissionTimestamp` equal to `eventTimestamp` (the real one lags by seconds to minutes),
//! `properties.hierarchy` as `<tenant>/<subscription>` whatever management groups lie between,
//! and the `eventChannels` clause older clients send being ignored.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};
use url::Url;

use super::arm_error::ArmError;
use super::clock;
use super::contacts::CONTACT_NAME;

/// The api-version of Activity Logs - List.
pub const ACTIVITY_LOG_API_VERSION: &str = "2015-04-01";

/// The caller recorded for a portal edit (control API or [`crate::SimState`]) that names none.
pub const DEFAULT_PORTAL_CALLER: &str = "portal-user@contoso.com";

/// The Azure Portal's first-party application id, the `appid` claim of a portal user's ARM
/// token (the published example `GetActivityLogsFiltered.json` shows it, digits masked).
const PORTAL_APP_ID: &str = "c44b4083-3bb0-49c1-b47d-974e53cbdf3c";

/// How long events stay queryable.
pub(crate) const RETENTION: Duration = Duration::from_secs(90 * 24 * 3_600);

/// At most this many writes are kept; the oldest go first.
const MAX_RECORDS: usize = 100_000;

const WRITE: &str = "Microsoft.Security/securityContacts/write";
const DELETE: &str = "Microsoft.Security/securityContacts/delete";
const PROVIDER: &str = "Microsoft.Security";
const RESOURCE_TYPE: &str = "Microsoft.Security/securityContacts";

/// The filter error, flat as the 2015-04-01 `ErrorResponse` is.
fn bad_filter() -> ArmError {
    ArmError::new(
        http::StatusCode::BAD_REQUEST,
        "BadRequest",
        "$filter searching parameters invalid",
    )
    .flat()
}

/// Who made a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Actor {
    /// A service principal, with the token it presented.
    App {
        object_id: String,
        client_id: String,
        appidacr: &'static str,
    },
    /// A person (the portal; the control API).
    User { name: String },
}

impl Actor {
    /// `EventData.caller`: a service principal's object id, a person's UPN.
    pub(crate) fn caller(&self) -> &str {
        match self {
            Actor::App { object_id, .. } => object_id,
            Actor::User { name } => name,
        }
    }

    /// A person named `caller`, or [`DEFAULT_PORTAL_CALLER`].
    pub(crate) fn person(caller: Option<&str>) -> Actor {
        Actor::User {
            name: caller
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .unwrap_or(DEFAULT_PORTAL_CALLER)
                .to_owned(),
        }
    }
}

/// One successful write to a subscription's contact.
#[derive(Debug, Clone)]
pub(crate) struct ContactWriteRecord {
    /// Order of recording, for ties and paging.
    pub(crate) seq: u64,
    /// As the simulator stores it.
    pub(crate) subscription_id: String,
    pub(crate) tenant_id: String,
    pub(crate) actor: Actor,
    /// When the request arrived (the `Started` event).
    pub(crate) begun: SystemTime,
    /// When it was done (the `Succeeded` event).
    pub(crate) at: SystemTime,
    pub(crate) delete: bool,
    /// The HTTP status of the write: 200, 201 or 204.
    pub(crate) status: u16,
    pub(crate) correlation_id: String,
    pub(crate) client_request_id: String,
    /// `eventDataId`s of the `Started` and `Succeeded` events.
    pub(crate) event_ids: [String; 2],
}

impl ContactWriteRecord {
    /// A record with fresh event ids; `seq` is set when it is stored.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        subscription_id: &str,
        tenant_id: &str,
        actor: Actor,
        begun: SystemTime,
        at: SystemTime,
        delete: bool,
        status: u16,
        correlation_id: String,
        client_request_id: Option<String>,
    ) -> ContactWriteRecord {
        ContactWriteRecord {
            seq: 0,
            subscription_id: subscription_id.to_owned(),
            tenant_id: tenant_id.to_owned(),
            actor,
            begun,
            at,
            delete,
            status,
            correlation_id,
            client_request_id: client_request_id
                .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
            event_ids: [
                uuid::Uuid::new_v4().to_string(),
                uuid::Uuid::new_v4().to_string(),
            ],
        }
    }

    pub(crate) fn operation(&self) -> &'static str {
        if self.delete { DELETE } else { WRITE }
    }

    pub(crate) fn public(&self) -> ContactWrite {
        ContactWrite {
            caller: self.actor.caller().to_owned(),
            at: self.at,
            operation: self.operation().to_owned(),
            correlation_id: self.correlation_id.clone(),
            status: self.status,
        }
    }
}

/// Appends a record, numbering it and dropping the oldest beyond the cap.
pub(crate) fn store(
    records: &mut Vec<ContactWriteRecord>,
    next_seq: &mut u64,
    mut record: ContactWriteRecord,
) {
    *next_seq += 1;
    record.seq = *next_seq;
    if records.len() >= MAX_RECORDS {
        records.remove(0);
    }
    records.push(record);
}

/// A recorded write to a security contact, as [`crate::SimState::contact_writes`] returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactWrite {
    /// The Activity Log `caller`: a service principal's object id, or a person's name (UPN).
    pub caller: String,
    /// When the write completed (the `Succeeded` event's `eventTimestamp`).
    pub at: SystemTime,
    /// `Microsoft.Security/securityContacts/write` or `Microsoft.Security/securityContacts/delete`.
    pub operation: String,
    /// The `correlationId` of its events (the client's `x-ms-correlation-request-id` for an ARM
    /// request that sent one).
    pub correlation_id: String,
    /// The HTTP status the write was answered with: 201 or 200 for a write, 200 or 204 for a
    /// delete.
    pub status: u16,
}

/// The resource id of a subscription's contact.
pub(crate) fn contact_resource_id(subscription_id: &str) -> String {
    format!("/subscriptions/{subscription_id}/providers/{RESOURCE_TYPE}/{CONTACT_NAME}")
}

/// A parsed `$filter`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Filter {
    from: Option<SystemTime>,
    to: Option<SystemTime>,
    resource_uri: Option<String>,
    resource_group: Option<String>,
    correlation_id: Option<String>,
    resource_provider: Option<String>,
}

/// Splits one word (up to whitespace) off `text`.
fn word(text: &str) -> Option<(&str, &str)> {
    let text = text.trim_start();
    let end = text.find(char::is_whitespace).unwrap_or(text.len());
    (end > 0).then(|| text.split_at(end))
}

/// Splits a value off `text`: `'quoted'` (with `''` for a quote) or a bare word.
fn value(text: &str) -> Option<(String, &str)> {
    let text = text.trim_start();
    let Some(quoted) = text.strip_prefix('\'') else {
        return word(text).map(|(w, rest)| (w.to_owned(), rest));
    };
    let mut out = String::new();
    let mut chars = quoted.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c != '\'' {
            out.push(c);
            continue;
        }
        if matches!(chars.peek(), Some((_, '\''))) {
            chars.next();
            out.push('\'');
            continue;
        }
        return Some((out, &quoted[i + 1..]));
    }
    None
}

/// Parses the documented grammar: clauses `<name> <op> <value>` joined by `and`, where
/// `eventTimestamp ge` is required and `eventTimestamp le`, `resourceUri eq`,
/// `resourceGroupName eq`, `resourceProvider eq` and `correlationId eq` are optional (each at
/// most once). Names and operators match case-insensitively.
pub(crate) fn parse_filter(text: &str) -> Result<Filter, ArmError> {
    let mut filter = Filter::default();
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(bad_filter());
    }
    loop {
        let (name, after) = word(rest).ok_or_else(bad_filter)?;
        let (op, after) = word(after).ok_or_else(bad_filter)?;
        let (value, after) = value(after).ok_or_else(bad_filter)?;
        let op = op.to_ascii_lowercase();
        let slot = match (name.to_ascii_lowercase().as_str(), op.as_str()) {
            ("eventtimestamp", "ge" | "le") => {
                let at = clock::parse_rfc3339(&value).ok_or_else(bad_filter)?;
                let slot = if op == "ge" {
                    &mut filter.from
                } else {
                    &mut filter.to
                };
                if slot.replace(at).is_some() {
                    return Err(bad_filter());
                }
                None
            }
            ("resourceuri", "eq") => Some(&mut filter.resource_uri),
            ("resourcegroupname", "eq") => Some(&mut filter.resource_group),
            ("correlationid", "eq") => Some(&mut filter.correlation_id),
            ("resourceprovider", "eq") => Some(&mut filter.resource_provider),
            // Sent by older clients (`eventChannels eq 'Admin, Operation'`); every event here is
            // on the Operation channel.
            ("eventchannels", "eq") => None,
            _ => return Err(bad_filter()),
        };
        if let Some(slot) = slot
            && slot.replace(value).is_some()
        {
            return Err(bad_filter());
        }
        let after = after.trim_start();
        if after.is_empty() {
            break;
        }
        let (and, after) = word(after).ok_or_else(bad_filter)?;
        if !and.eq_ignore_ascii_case("and") {
            return Err(bad_filter());
        }
        rest = after;
    }
    if filter.from.is_none() {
        return Err(bad_filter());
    }
    Ok(filter)
}

impl Filter {
    fn admits(&self, record: &ContactWriteRecord, at: SystemTime, now: SystemTime) -> bool {
        let same = |wanted: &Option<String>, actual: &str| {
            wanted.as_deref().is_none_or(|w| {
                w.trim_end_matches('/')
                    .eq_ignore_ascii_case(actual.trim_end_matches('/'))
            })
        };
        self.from.is_none_or(|from| at >= from)
            && self.to.is_none_or(|to| at <= to)
            && at + RETENTION >= now
            && same(
                &self.resource_uri,
                &contact_resource_id(&record.subscription_id),
            )
            // A contact is a subscription-level resource: in no resource group.
            && same(&self.resource_group, "")
            && same(&self.correlation_id, &record.correlation_id)
            && same(&self.resource_provider, PROVIDER)
    }
}

fn localized(value: &str, localized: &str) -> Value {
    json!({ "value": value, "localizedValue": localized })
}

/// The `claims` of the token behind a write: what Entra's v1.0 access tokens carry for an app
/// (`appid`, `appidacr`, `idtyp`, `oid`, …) or a portal user (`upn`, `name`, the portal's
/// `appid`), under the long claim names the Activity Log uses.
fn claims(record: &ContactWriteRecord, arm_audience: &str) -> Value {
    let issuer = format!("https://sts.windows.net/{}/", record.tenant_id);
    let mut claims = json!({
        "aud": format!("{arm_audience}/"),
        "iss": issuer,
        "http://schemas.microsoft.com/identity/claims/tenantid": record.tenant_id,
        "ver": "1.0",
    });
    let extra = match &record.actor {
        Actor::App {
            object_id,
            client_id,
            appidacr,
        } => json!({
            "appid": client_id,
            "appidacr": appidacr,
            "idtyp": "app",
            "http://schemas.microsoft.com/identity/claims/identityprovider": issuer,
            "http://schemas.microsoft.com/identity/claims/objectidentifier": object_id,
            "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier": object_id,
        }),
        Actor::User { name } => json!({
            "appid": PORTAL_APP_ID,
            "appidacr": "2",
            "idtyp": "user",
            "name": name,
            "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name": name,
            "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn": name,
        }),
    };
    if let (Some(claims), Value::Object(extra)) = (claims.as_object_mut(), extra) {
        claims.extend(extra);
    }
    claims
}

/// One `EventData`: the `Started` (`succeeded == false`) or the `Succeeded` event of a write.
fn event(record: &ContactWriteRecord, succeeded: bool, arm_audience: &str) -> Value {
    let resource_id = contact_resource_id(&record.subscription_id);
    let operation = record.operation();
    let (at, event_id) = if succeeded {
        (record.at, &record.event_ids[1])
    } else {
        (record.begun, &record.event_ids[0])
    };
    let timestamp = clock::entra_precise(at);
    let (status_code, sub_status) = match record.status {
        201 => ("Created", "Created (HTTP Status Code: 201)"),
        204 => ("NoContent", "No Content (HTTP Status Code: 204)"),
        _ => ("OK", "OK (HTTP Status Code: 200)"),
    };
    let mut properties = json!({
        "eventCategory": "Administrative",
        "entity": resource_id,
        "message": operation,
        "hierarchy": format!("{}/{}", record.tenant_id, record.subscription_id),
    });
    if succeeded {
        properties["statusCode"] = Value::from(status_code);
    }
    let mut http_request = json!({
        "clientRequestId": record.client_request_id,
        "method": if record.delete { "DELETE" } else { "PUT" },
    });
    if matches!(record.actor, Actor::App { .. }) {
        http_request["clientIpAddress"] = Value::from("127.0.0.1");
    }
    json!({
        "authorization": { "action": operation, "scope": resource_id },
        "caller": record.actor.caller(),
        "channels": "Operation",
        "claims": claims(record, arm_audience),
        "correlationId": record.correlation_id,
        "description": "",
        "eventDataId": event_id,
        "eventName": if succeeded {
            localized("EndRequest", "End request")
        } else {
            localized("BeginRequest", "Begin request")
        },
        "category": localized("Administrative", "Administrative"),
        "eventTimestamp": timestamp,
        "httpRequest": http_request,
        "id": format!("{resource_id}/events/{event_id}/ticks/{}", clock::dotnet_ticks(at)),
        "level": "Informational",
        "operationId": record.correlation_id,
        "operationName": localized(
            operation,
            if record.delete { "Delete security contact" } else { "Update security contact" },
        ),
        "resourceGroupName": "",
        "resourceProviderName": localized(PROVIDER, PROVIDER),
        "resourceType": localized(RESOURCE_TYPE, RESOURCE_TYPE),
        "resourceId": resource_id,
        "status": if succeeded {
            localized("Succeeded", "Succeeded")
        } else {
            localized("Started", "Started")
        },
        "subStatus": if succeeded {
            localized(status_code, sub_status)
        } else {
            localized("", "")
        },
        "submissionTimestamp": timestamp,
        "subscriptionId": record.subscription_id,
        "tenantId": record.tenant_id,
        "properties": properties,
        "relatedEvents": [],
    })
}

/// Keeps only the `$select`ed top-level properties (names matched case-insensitively); an
/// empty selection keeps everything.
fn select(event: Value, wanted: &[String]) -> Value {
    if wanted.is_empty() {
        return event;
    }
    match event {
        Value::Object(fields) => Value::Object(
            fields
                .into_iter()
                .filter(|(key, _)| wanted.iter().any(|w| w.eq_ignore_ascii_case(key)))
                .collect::<Map<String, Value>>(),
        ),
        other => other,
    }
}

/// Where a page ends: the last event's time and order.
fn encode_token(at: SystemTime, order: u64) -> String {
    let nanos = at.duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos();
    format!("{nanos}|{order}")
        .bytes()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn decode_token(token: &str) -> Option<(u128, u64)> {
    if !token.len().is_multiple_of(2) {
        return None;
    }
    let bytes: Vec<u8> = (0..token.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(token.get(i..i + 2)?, 16).ok())
        .collect::<Option<_>>()?;
    let text = String::from_utf8(bytes).ok()?;
    let (nanos, order) = text.split_once('|')?;
    Some((nanos.parse().ok()?, order.parse().ok()?))
}

/// What one request asks for.
pub(crate) struct Query<'a> {
    pub(crate) subscription_id: &'a str,
    pub(crate) filter_text: &'a str,
    pub(crate) select: Option<&'a str>,
    pub(crate) skip_token: Option<&'a str>,
    pub(crate) page_size: usize,
    pub(crate) arm_audience: &'a str,
    pub(crate) base_url: &'a Url,
}

/// One page of the subscription's events, newest first (a write's `Succeeded` event before its
/// `Started` one), `nextLink` pointing past the last event of the page (so events recorded
/// while a client pages never shift the pages it has not read yet), `null` on the last page.
pub(crate) fn page(
    records: &[ContactWriteRecord],
    query: &Query<'_>,
    now: SystemTime,
) -> Result<Value, ArmError> {
    let filter = parse_filter(query.filter_text)?;
    let after = match query.skip_token {
        None => None,
        Some(token) => Some(decode_token(token).ok_or_else(bad_filter)?),
    };
    let wanted: Vec<String> = query
        .select
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    let mut events: Vec<(SystemTime, u64, &ContactWriteRecord, bool)> = records
        .iter()
        .filter(|r| {
            r.subscription_id
                .eq_ignore_ascii_case(query.subscription_id)
        })
        .flat_map(|r| {
            [
                (r.begun, r.seq * 2, r, false),
                (r.at, r.seq * 2 + 1, r, true),
            ]
        })
        .filter(|(at, _, r, _)| filter.admits(r, *at, now))
        .filter(|(at, order, _, _)| {
            after.is_none_or(|(nanos, last)| {
                let key = (
                    at.duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos(),
                    *order,
                );
                key < (nanos, last)
            })
        })
        .collect();
    events.sort_by_key(|e| std::cmp::Reverse((e.0, e.1)));
    let size = query.page_size.max(1);
    let more = events.len() > size;
    events.truncate(size);
    let next_link = match events.last() {
        Some((at, order, _, _)) if more => {
            let mut next = query
                .base_url
                .join(&format!(
                    "subscriptions/{}/providers/Microsoft.Insights/eventtypes/management/values",
                    query.subscription_id
                ))
                .unwrap_or_else(|_| query.base_url.clone());
            {
                let mut pairs = next.query_pairs_mut();
                pairs
                    .append_pair("api-version", ACTIVITY_LOG_API_VERSION)
                    .append_pair("$filter", query.filter_text);
                if let Some(select) = query.select {
                    pairs.append_pair("$select", select);
                }
                pairs.append_pair("$skiptoken", &encode_token(*at, *order));
            }
            Value::String(next.into())
        }
        _ => Value::Null,
    };
    let value: Vec<Value> = events
        .iter()
        .map(|(_, _, record, succeeded)| {
            select(event(record, *succeeded, query.arm_audience), &wanted)
        })
        .collect();
    Ok(json!({ "value": value, "nextLink": next_link }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    const NOW: u64 = 1_800_000_000;

    fn record(seq: u64, secs: u64, actor: Actor) -> ContactWriteRecord {
        let mut record = ContactWriteRecord::new(
            "S1",
            "t1",
            actor,
            at(secs),
            at(secs) + Duration::from_millis(30),
            false,
            if seq == 1 { 201 } else { 200 },
            format!("corr-{seq}"),
            None,
        );
        record.seq = seq;
        record
    }

    fn app() -> Actor {
        Actor::App {
            object_id: "oid-1".into(),
            client_id: "app-1".into(),
            appidacr: "1",
        }
    }

    fn query<'a>(filter: &'a str, base: &'a Url) -> Query<'a> {
        Query {
            subscription_id: "s1",
            filter_text: filter,
            select: None,
            skip_token: None,
            page_size: 10,
            arm_audience: "https://management.azure.com",
            base_url: base,
        }
    }

    #[test]
    fn filter_grammar() {
        let parsed = parse_filter(
            "eventTimestamp ge '2024-02-29T13:05:09Z' AND eventtimestamp LE '2024-03-01' and resourceUri eq '/subscriptions/s1/providers/Microsoft.Security/securityContacts/default' and correlationId eq 'it''s'",
        )
        .expect("valid");
        assert_eq!(parsed.from, Some(at(1_709_211_909)));
        assert_eq!(parsed.to, Some(at(1_709_251_200)));
        assert_eq!(parsed.correlation_id.as_deref(), Some("it's"));
        assert!(parsed.resource_uri.is_some());
        assert!(
            parse_filter("eventTimestamp ge 2024-02-29 and eventChannels eq 'Admin, Operation'")
                .is_ok()
        );
        for bad in [
            "",
            "eventTimestamp le '2024-03-01'",
            "resourceUri eq '/x'",
            "eventTimestamp ge 'yesterday'",
            "eventTimestamp gt '2024-03-01'",
            "eventTimestamp ge '2024-03-01' or resourceUri eq '/x'",
            "eventTimestamp ge '2024-03-01' and caller eq 'x'",
            "eventTimestamp ge '2024-03-01' and eventTimestamp ge '2024-03-02'",
            "eventTimestamp ge '2024-03-01' and resourceUri eq '/x",
            "eventTimestamp ge '2024-03-01' and",
        ] {
            let error = parse_filter(bad).expect_err(bad);
            assert_eq!(
                error.body(),
                json!({"code": "BadRequest", "message": "$filter searching parameters invalid"}),
                "{bad}"
            );
        }
    }

    #[test]
    fn events_are_paired_newest_first_and_shaped_like_event_data() {
        let records = vec![
            record(1, NOW - 120, app()),
            record(2, NOW - 60, Actor::person(Some("ops-admin@contoso.com"))),
        ];
        let base = Url::parse("https://127.0.0.1:9/").expect("url");
        let filter = format!(
            "eventTimestamp ge '{}'",
            clock::entra_precise(at(NOW - 3_600))
        );
        let body = page(&records, &query(&filter, &base), at(NOW)).expect("page");
        let events = body["value"].as_array().expect("array");
        let summary: Vec<(String, String, String)> = events
            .iter()
            .map(|e| {
                (
                    e["caller"].as_str().unwrap_or_default().to_owned(),
                    e["status"]["value"].as_str().unwrap_or_default().to_owned(),
                    e["eventName"]["value"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                )
            })
            .collect();
        let row = |c: &str, s: &str, n: &str| (c.to_owned(), s.to_owned(), n.to_owned());
        assert_eq!(
            summary,
            [
                row("ops-admin@contoso.com", "Succeeded", "EndRequest"),
                row("ops-admin@contoso.com", "Started", "BeginRequest"),
                row("oid-1", "Succeeded", "EndRequest"),
                row("oid-1", "Started", "BeginRequest"),
            ]
        );
        assert!(body["nextLink"].is_null());
        let first = &events[3];
        assert_eq!(
            first["resourceId"],
            "/subscriptions/S1/providers/Microsoft.Security/securityContacts/default"
        );
        assert_eq!(
            first["subStatus"],
            json!({"value": "", "localizedValue": ""})
        );
        assert_eq!(
            events[2]["subStatus"]["localizedValue"],
            "Created (HTTP Status Code: 201)"
        );
        assert_eq!(events[2]["claims"]["appid"], "app-1");
        assert_eq!(
            events[2]["claims"]["http://schemas.microsoft.com/identity/claims/objectidentifier"],
            "oid-1"
        );
        assert_eq!(events[0]["claims"]["idtyp"], "user");
        assert_eq!(events[2]["correlationId"], events[3]["correlationId"]);
        assert_eq!(events[2]["operationId"], "corr-1");
        assert!(
            events[2]["id"]
                .as_str()
                .is_some_and(|id| id.contains("/events/") && id.contains("/ticks/"))
        );
        for field in [
            "authorization",
            "category",
            "channels",
            "level",
            "operationName",
            "resourceGroupName",
            "resourceProviderName",
            "resourceType",
            "submissionTimestamp",
            "subscriptionId",
            "tenantId",
        ] {
            assert!(!first[field].is_null(), "{field}");
        }
    }

    #[test]
    fn windows_retention_select_and_paging() {
        let old = NOW - RETENTION.as_secs() - 10;
        let records: Vec<ContactWriteRecord> = [old, NOW - 300, NOW - 200, NOW - 100]
            .into_iter()
            .enumerate()
            .map(|(i, secs)| record(i as u64 + 1, secs, app()))
            .collect();
        let base = Url::parse("https://127.0.0.1:9/").expect("url");
        let everything = format!("eventTimestamp ge '{}'", clock::entra_precise(at(0)));
        let count = |q: &Query<'_>| {
            page(&records, q, at(NOW)).expect("page")["value"]
                .as_array()
                .map_or(0, Vec::len)
        };
        // The 90-day-old write is gone.
        assert_eq!(count(&query(&everything, &base)), 6);
        let window = format!(
            "eventTimestamp ge '{}' and eventTimestamp le '{}'",
            clock::entra_precise(at(NOW - 250)),
            clock::entra_precise(at(NOW - 150))
        );
        assert_eq!(count(&query(&window, &base)), 2);
        let other = format!(
            "{everything} and resourceUri eq '/subscriptions/s2/providers/Microsoft.Security/securityContacts/default'"
        );
        assert_eq!(count(&query(&other, &base)), 0);
        let group = format!("{everything} and resourceGroupName eq 'rg'");
        assert_eq!(count(&query(&group, &base)), 0);

        let selected = Query {
            select: Some("caller, eventTimestamp,status"),
            ..query(&everything, &base)
        };
        let body = page(&records, &selected, at(NOW)).expect("page");
        let keys: Vec<&String> = body["value"][0]
            .as_object()
            .expect("object")
            .keys()
            .collect();
        assert_eq!(keys.len(), 3, "{keys:?}");

        let mut seen = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let q = Query {
                page_size: 4,
                skip_token: token.as_deref(),
                ..query(&everything, &base)
            };
            let body = page(&records, &q, at(NOW)).expect("page");
            for e in body["value"].as_array().expect("array") {
                seen.push(e["eventDataId"].as_str().unwrap_or_default().to_owned());
            }
            let Some(next) = body["nextLink"].as_str() else {
                break;
            };
            let next = Url::parse(next).expect("url");
            assert!(
                next.query_pairs()
                    .any(|(k, v)| k == "$filter" && v == everything)
            );
            token = next
                .query_pairs()
                .find(|(k, _)| k == "$skiptoken")
                .map(|(_, v)| v.into_owned());
        }
        assert_eq!(seen.len(), 6);
        let unique: std::collections::HashSet<&String> = seen.iter().collect();
        assert_eq!(unique.len(), 6);
        let bad = Query {
            skip_token: Some("zz"),
            ..query(&everything, &base)
        };
        assert!(page(&records, &bad, at(NOW)).is_err());
    }
}
