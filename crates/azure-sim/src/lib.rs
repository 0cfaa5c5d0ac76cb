//! An in-process Azure simulator: the Entra ID token endpoint, the slice of Azure Resource
//! Manager this operator talks to (security contacts, subscriptions, management groups, the
//! Activity Log) and the slice of Microsoft Graph that holds a tenant's notification contacts
//! (`organization`), over real HTTPS, with throttling, faults and counters.
//!
//! Behaviour follows the published 2023-12-01-preview spec and examples of
//! Azure/azure-rest-api-specs and its 2023-04-01 `GetDescendants` example (copies in
//! `tests/fixtures/arm/`, replayed by the tests), ARM's
//! documented error and throttling behaviour, and the Entra token endpoint as `azure_identity`
//! 1.0 calls it; where the public record does not settle a detail, the choice made here is
//! marked UNVERIFIED in the code.
//!
//! ```no_run
//! # async fn demo() -> Result<(), azure_sim::SimError> {
//! use azure_sim::{SimConfig, Simulator};
//! let sim = Simulator::start(SimConfig::demo()).await?;
//! println!("ARM and authority host: {}", sim.url());
//! sim.state().reset_requests();
//! sim.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! # Azure routes
//!
//! | route | notes |
//! |---|---|
//! | `POST /{tenant}/oauth2/v2.0/token` | scope `<armAudience>/.default` (ARM) or [`GRAPH_SCOPE`] (Microsoft Graph; the token carries the principal's `graphPermissions` as roles); client secret, or a client assertion checked against the principal's federated identity credentials (issuer, JWKS signature by `kid`, `exp`/`nbf`, subject, audience); errors in Entra's shape (AADSTS90002, 700016, 7000215, 7000218, 1002012 `invalid_scope`, 500011 `invalid_resource`; for assertions 50027, 90014, 700211, 5002738, 90061, 7000272, 700027, 700024, 700213, 7002138, 700212: see `entra.rs`) |
//! | `GET /{tenant}/v2.0/.well-known/openid-configuration` | Entra's OpenID Provider metadata for a known tenant (endpoints under the simulator's address and the tenant's id), which MSAL reads before its first token request; 400 `invalid_tenant` (AADSTS90002) for an unknown one |
//! | `GET /subscriptions?api-version=*` | any api-version; subscriptions the caller has a role on; `nextLink` paging (`$skiptoken`) |
//! | `GET /subscriptions/{sub}/providers/Microsoft.Security/securityContacts` | LIST, `{"value":[…]}` |
//! | `GET\|PUT\|DELETE /subscriptions/{sub}/providers/Microsoft.Security/securityContacts/default` | 200/404, 201/200, 200/204 |
//! | `GET /subscriptions/{sub}/providers/Microsoft.Insights/eventtypes/management/values` | Activity Logs - List, api-version 2015-04-01: `$filter` `eventTimestamp ge '<RFC 3339>'` (required) `[and eventTimestamp le '…'] [and resourceUri eq '…'] [and resourceGroupName eq '…'] [and resourceProvider eq '…'] [and correlationId eq '…']`, else 400 `{"code":"BadRequest","message":"$filter searching parameters invalid"}` (flat); `$select`; `{"value":[EventData…],"nextLink":…}` newest first, `activityLogPageSize` a page, opaque `$skiptoken`, `"nextLink": null` on the last; two events per successful contact write (`BeginRequest`/`Started`, `EndRequest`/`Succeeded`), caller = service principal object id or the portal user's name; 90 days kept; 403 `AuthorizationFailed` (`Microsoft.Insights/eventtypes/values/read`) without a read grant; see `activity_log.rs` |
//! | `GET /v1.0/organization`, `GET\|PATCH /v1.0/organization/{tenant id}` | Microsoft Graph (Graph token only): the token's tenant's organization; PATCH any of `technicalNotificationMails`, `securityComplianceNotificationMails`, `securityComplianceNotificationPhones`, `marketingNotificationEmails`, `privacyProfile` → 204; errors in Graph's shape with `innerError` (401 `InvalidAuthenticationToken`, 403 `Authorization_RequestDenied`, 404 `Request_ResourceNotFound`, 400 `Request_BadRequest`, 405); `request-id`/`client-request-id` headers; see `graph.rs` |
//! | `GET /providers/Microsoft.Management/managementGroups/{group}/descendants` | api-version 2020-05-01, 2021-04-01 or 2023-04-01; `{"value":[DescendantInfo…],"nextLink":…}` with every group (`type` `Microsoft.Management/managementGroups`) and subscription (`Microsoft.Management/managementGroups/subscriptions`) at every depth, each with `properties.parent.id`; pages of `$top` (else `descendantPageSize`), opaque `$skiptoken`, `"nextLink": null` on the last; 404 `NotFound` (unknown group), 403 `AuthorizationFailed` (no `managementGroup:` read grant on the group or an ancestor); tenant reads bucket; see `management_groups.rs` |
//!
//! Security-contact routes accept only `api-version=2023-12-01-preview` (older versions, which
//! real ARM still serves, get `InvalidApiVersionParameter` here). Fixed path segments match
//! case-insensitively, as in ARM. Every ARM response carries `x-ms-request-id`,
//! `x-ms-correlation-request-id` (the client's, if it sent one) and `x-ms-routing-request-id`;
//! every authenticated one also carries its bucket's `x-ms-ratelimit-remaining-…` header. The
//! order of checks and the error codes are described in `arm.rs`. ARM refuses a Graph token
//! (401 `InvalidAuthenticationTokenAudience`) and Graph an ARM token (401
//! `InvalidAuthenticationToken`, "Access token validation failure. Invalid audience.").
//! Microsoft Graph is served on the same host and port (real Graph is
//! `https://graph.microsoft.com`): point a Graph client's base URL at `{url}v1.0/`.
//!
//! # Control routes (no token needed)
//!
//! | route | body / answer |
//! |---|---|
//! | `GET /_sim/requests` | [`RequestCounts`] as JSON |
//! | `POST /_sim/requests/reset` | zero the counters |
//! | `GET /_sim/contacts/{sub}` | the stored `properties`, or 404 |
//! | `PUT /_sim/contacts/{sub}?caller=<name>` | body: `properties` object (a "portal edit", recorded in the Activity Log with `caller`, default [`DEFAULT_PORTAL_CALLER`]); 201/200 |
//! | `DELETE /_sim/contacts/{sub}?caller=<name>` | 204 (recorded like a PUT) |
//! | `GET /_sim/contacts/{sub}/writes` | the recorded writes, oldest first: `[{"caller", "at", "operation", "correlationId", "status"}]` |
//! | `GET /_sim/tenants/{tenant}/organization` | the Graph organization, as `GET /v1.0/organization/{id}` shows it |
//! | `PUT /_sim/tenants/{tenant}/organization?caller=<name>` | body: the properties to change (the Graph-updatable ones, `displayName`, `verifiedDomains`); 204 |
//! | `GET /_sim/tenants/{tenant}/organization/writes` | `[{"caller", "clientId", "at", "properties"}]`, oldest first |
//! | `GET\|PUT /_sim/tenants/{tenant}/principals/{clientId}/graph-permissions` | `{"permissions": ["Organization.ReadWrite.All", …]}` (for tokens issued afterwards); PUT 204 |
//! | `GET\|PUT\|DELETE /_sim/faults` | [`FaultConfig`] as JSON; DELETE clears |
//! | `GET\|PUT /_sim/throttle` | [`ThrottleConfig`] as JSON; PUT refills every bucket |
//! | `PUT /_sim/access/{sub}/{clientId}` | `{"access":"none"\|"read"\|"readWrite"}`; `{sub}` may also be `managementGroup:<group id>` |
//! | `PUT /_sim/subscriptions/{sub}` | [`SubscriptionUpdate`] `{"state":"Disabled", "securityRegistered":false, "displayName":"…", "tags":{…}, "managementGroup":"<group or tenant id>"}` (any fields; all or nothing) |
//! | `GET /_sim/management-groups/{group}` | the group as a [`ManagementGroupSeed`], or 404 |
//! | `PUT /_sim/management-groups/{group}` | `{"displayName": "…", "parent": "<group or tenant id>", "subscriptions": […], "tenant": "…"}` (all optional; `tenant` only when neither the group, its parent nor a single tenant tells): create or replace, moving the listed subscriptions into it; 201/204 |
//! | `POST /_sim/tokens/expire` | every issued token becomes expired |
//! | `PUT /_sim/oidc-issuers` | [`OidcIssuerSeed`] `{"issuer": "…", "jwks": {"keys": […]}}`: add an issuer or replace its keys; 201/204 |
//! | `GET /_sim/tenants/{tenant}/principals/{clientId}/federated-credentials` | the principal's [`FederatedCredentialSeed`]s |
//! | `PUT /_sim/tenants/{tenant}/principals/{clientId}/federated-credentials/{name}` | `{"issuer": "…", "subject": "…", "audiences": […]}` (audiences optional): add or replace; 201/204 |
//! | `DELETE /_sim/tenants/{tenant}/principals/{clientId}/federated-credentials/{name}` | 204, or 404 |
//!
//! Control requests are neither counted nor faulted.
//!
//! # Faults
//!
//! See [`FaultConfig`]: per-rule scope (subscription, method, route kind), latency (fixed,
//! uniform, or log-normal given p50/p99), 500/503 error rate, 429 storms (count and/or
//! duration, `Retry-After`, optional `x-ms-retry-after-ms`) and connection resets (TCP RST,
//! no response), with an optional RNG seed. On the Graph route (`graphOrganization`) errors and
//! storms are answered in Graph's shape (429 `TooManyRequests` with `Retry-After`); ARM's token
//! buckets do not apply to Graph.
//!
//! # Who changed what
//!
//! [`SimState::contact_writes`] lists every successful write to a subscription's contact (ARM
//! `PUT`/`DELETE` by a service principal, portal edits through [`SimState::set_contact_as`] or
//! the control API) with [`ContactWrite`]'s caller, time, operation and correlation id, as the
//! Activity Log shows them; [`SimState::organization_writes`] lists the changes to a tenant's
//! Graph organization.

mod activity_log;
mod arm;
mod arm_error;
mod clock;
mod config;
mod contacts;
mod control;
mod counters;
mod demo;
mod entra;
mod error;
mod faults;
mod federation;
mod graph;
mod management_groups;
mod pipeline;
mod route;
mod server;
mod state;
mod subscriptions;
mod throttle;
mod tls;
mod tokens;

pub use activity_log::{ACTIVITY_LOG_API_VERSION, ContactWrite, DEFAULT_PORTAL_CALLER};
pub use config::{
    Access, DEFAULT_ACTIVITY_LOG_PAGE_SIZE, DEFAULT_ARM_AUDIENCE, DEFAULT_DESCENDANT_PAGE_SIZE,
    DEFAULT_FEDERATED_AUDIENCE, DEFAULT_SUBSCRIPTION_PAGE_SIZE, DEFAULT_TOKEN_LIFETIME_SECS,
    FederatedCredentialSeed, GRAPH_AUDIENCE, GRAPH_SCOPE, MANAGEMENT_GROUP_ACCESS_PREFIX,
    MAX_FEDERATED_CREDENTIALS, ManagementGroupSeed, OidcIssuerSeed, OrganizationSeed,
    PrincipalSeed, SimConfig, SubscriptionSeed, SubscriptionState, TenantSeed,
    management_group_access_key,
};
pub use counters::{RequestCount, RequestCounts, STATUS_RESET};
pub use demo::{
    DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_MG_APPS, DEMO_MG_PLATFORM, DEMO_OBJECT_ID,
    DEMO_SUB_COMPLIANT, DEMO_SUB_CONTACT_DISABLED, DEMO_SUB_CONTACT_MISSING, DEMO_SUB_DISABLED,
    DEMO_SUB_NO_ACCESS, DEMO_SUB_NOT_REGISTERED, DEMO_SUB_PORTAL_EDITED, DEMO_SUB_READ_ONLY,
    DEMO_SUB_WEAK_SEVERITY, DEMO_TENANT_ID,
};
pub use error::SimError;
pub use faults::{FaultConfig, FaultRule, Latency, Storm};
pub use graph::OrganizationWrite;
pub use route::RouteKind;
pub use server::{SimHandle, Simulator, serve_until};
pub use state::{SimState, SubscriptionUpdate};
pub use throttle::{BucketConfig, ThrottleConfig};

/// The api-version the security-contact routes serve.
pub const SECURITY_CONTACTS_API_VERSION: &str = arm_error::CONTACTS_API_VERSION;
