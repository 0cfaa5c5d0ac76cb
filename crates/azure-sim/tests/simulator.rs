//! Behaviour of the Azure simulator over real HTTPS: security contacts, subscriptions paging,
//! authentication and RBAC errors, the Entra token endpoint through the real `azure_identity`
//! credentials, throttling, faults, counters, the control API and seeding, the Activity Log and
//! Microsoft Graph's organization.

mod support;

use std::time::{Duration, Instant};

use azure_core::credentials::TokenCredential;
use azure_sim::{
    self, BucketConfig, FaultConfig, FaultRule, Latency, RouteKind, STATUS_RESET, SimConfig, Storm,
    SubscriptionState, ThrottleConfig,
};
use serde_json::{Value, json};
use support::*;

// ---------------------------------------------------------------------------------------------
// Security contacts

#[tokio::test]
async fn put_creates_with_201_then_updates_with_200() {
    let sim = start(world()).await;
    let client = http(&sim);
    let token = writer_token(&sim).await;
    let body = json!({"properties": sample_properties()});

    let (status, headers, created) = send(
        client
            .put(contact_url(&sim, SUBS[0]))
            .bearer_auth(&token)
            .json(&body),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(
        created,
        json!({
            "id": format!("/subscriptions/{}/providers/Microsoft.Security/securityContacts/default", SUBS[0]),
            "name": "default",
            "type": "Microsoft.Security/securityContacts",
            "properties": sample_properties(),
        })
    );
    assert_eq!(
        header(&headers, "x-ms-ratelimit-remaining-subscription-writes"),
        Some("199")
    );

    let mut updated_props = sample_properties();
    updated_props["emails"] = json!("c@contoso.com");
    updated_props["futureField"] = json!({"kept": true});
    let (status, _, updated) = send(
        client
            .put(contact_url(&sim, SUBS[0]))
            .bearer_auth(&token)
            .json(&json!({"properties": updated_props})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(updated["properties"], updated_props);

    let (status, headers, got) =
        send(client.get(contact_url(&sim, SUBS[0])).bearer_auth(&token)).await;
    assert_eq!(status, 200);
    assert_eq!(got, updated);
    assert_eq!(
        header(&headers, "x-ms-ratelimit-remaining-subscription-reads"),
        Some("249")
    );
    assert_eq!(
        sim.state().contact(SUBS[0]).expect("known"),
        Some(updated_props)
    );
}

#[tokio::test]
async fn get_of_a_missing_contact_is_404_with_the_service_message() {
    let sim = start(world()).await;
    let token = writer_token(&sim).await;
    let (status, _, body) = send(
        http(&sim)
            .get(contact_url(&sim, SUBS[1]))
            .bearer_auth(&token),
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(
        body["error"]["message"],
        format!(
            "Could not find security contact with name default for subscriptionId: {}",
            SUBS[1]
        )
    );
    assert!(body["error"]["code"].is_string());
}

#[tokio::test]
async fn delete_is_200_when_present_and_204_when_absent() {
    let sim = start(world()).await;
    sim.state()
        .set_contact(SUBS[0], sample_properties())
        .expect("seed");
    let client = http(&sim);
    let token = writer_token(&sim).await;
    let (status, headers, body) = send(
        client
            .delete(contact_url(&sim, SUBS[0]))
            .bearer_auth(&token),
    )
    .await;
    assert_eq!((status, body), (200, Value::Null));
    assert_eq!(
        header(&headers, "x-ms-ratelimit-remaining-subscription-deletes"),
        Some("199")
    );
    let (status, _, body) = send(
        client
            .delete(contact_url(&sim, SUBS[0]))
            .bearer_auth(&token),
    )
    .await;
    assert_eq!((status, body), (204, Value::Null));
    assert_eq!(sim.state().contact(SUBS[0]).expect("known"), None);
}

#[tokio::test]
async fn list_returns_value_array() {
    let sim = start(world()).await;
    sim.state()
        .set_contact(SUBS[0], sample_properties())
        .expect("seed");
    let client = http(&sim);
    let token = writer_token(&sim).await;
    let (status, _, body) = send(client.get(contacts_url(&sim, SUBS[0])).bearer_auth(&token)).await;
    assert_eq!(status, 200);
    assert_eq!(body["value"].as_array().map(Vec::len), Some(1));
    assert_eq!(body["value"][0]["properties"], sample_properties());
    assert!(body.get("nextLink").is_none());
    let (status, _, body) = send(client.get(contacts_url(&sim, SUBS[1])).bearer_auth(&token)).await;
    assert_eq!((status, body), (200, json!({"value": []})));
}

#[tokio::test]
async fn bad_bodies_and_names_get_400() {
    let sim = start(world()).await;
    let client = http(&sim);
    let token = writer_token(&sim).await;
    let put = |body: &'static str| {
        client
            .put(contact_url(&sim, SUBS[0]))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body(body)
    };
    let (status, _, body) = send(put("{\"properties\": ")).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("InvalidRequestContent"))
    );
    let (status, _, body) = send(put(
        r#"{"properties":{"notificationsSources":[{"minimalSeverity":"High"}]}}"#,
    ))
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("InvalidInputJson"))
    );
    let (status, _, body) = send(put(r#"{"properties":{"emails":["a@contoso.com"]}}"#)).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(sim.state().contact(SUBS[0]).expect("known"), None);

    let url = contact_url(&sim, SUBS[0]).replace("/default?", "/default1?");
    let (status, _, body) = send(client.get(url).bearer_auth(&token)).await;
    assert_eq!(status, 400);
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("The only valid name for security contact is 'default'"))
    );
    // ARM matches fixed segments and the name case-insensitively.
    let shouty = contact_url(&sim, SUBS[0]).replace(
        "Microsoft.Security/securityContacts/default",
        "MICROSOFT.SECURITY/SECURITYCONTACTS/Default",
    );
    let (status, _, _) = send(client.get(shouty).bearer_auth(&token)).await;
    assert_eq!(status, 404);
}

// ---------------------------------------------------------------------------------------------
// Subscriptions

#[tokio::test]
async fn subscriptions_are_paged_with_next_link_and_filtered_by_rbac() {
    let sim = start(world()).await;
    let client = http(&sim);
    let token = writer_token(&sim).await;
    let mut url = format!("{}subscriptions?api-version=2022-12-01", sim.url());
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let (status, headers, body) = send(client.get(&url).bearer_auth(&token)).await;
        assert_eq!(status, 200, "{body}");
        assert!(header(&headers, "x-ms-ratelimit-remaining-tenant-reads").is_some());
        pages += 1;
        for item in body["value"].as_array().expect("value") {
            assert_eq!(item["tenantId"], TENANT);
            assert_eq!(item["state"], "Enabled");
            assert_eq!(
                item["id"],
                format!(
                    "/subscriptions/{}",
                    item["subscriptionId"].as_str().unwrap_or_default()
                )
            );
            assert_eq!(item["authorizationSource"], "RoleBased");
            seen.push(
                item["subscriptionId"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            );
        }
        match body["nextLink"].as_str() {
            Some(next) => url = next.to_owned(),
            None => break,
        }
    }
    // Writer has roles on SUBS[0..4] only; page size 2 → 2 pages.
    assert_eq!(seen, SUBS[..4].to_vec());
    assert_eq!(pages, 2);

    // The Python SDK's 2016-06-01 is accepted as well; a missing api-version is not.
    let (status, _, _) = send(
        client
            .get(format!("{}subscriptions?api-version=2016-06-01", sim.url()))
            .bearer_auth(&token),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _, body) = send(
        client
            .get(format!("{}subscriptions", sim.url()))
            .bearer_auth(&token),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("MissingApiVersionParameter"))
    );
}

// ---------------------------------------------------------------------------------------------
// ARM errors

#[tokio::test]
async fn authentication_errors_are_401_with_www_authenticate() {
    let sim = start(world()).await;
    let client = http(&sim);
    let url = contact_url(&sim, SUBS[0]);

    let (status, headers, body) = send(client.get(&url)).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("AuthenticationFailed"))
    );
    let challenge = header(&headers, "www-authenticate").expect("challenge");
    assert!(challenge.starts_with("Bearer authorization_uri="));
    assert!(challenge.contains(TENANT), "{challenge}");

    let (status, headers, body) = send(client.get(&url).bearer_auth("not-a-token")).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("InvalidAuthenticationToken"))
    );
    assert!(header(&headers, "www-authenticate").is_some());

    let token = writer_token(&sim).await;
    sim.state().expire_tokens();
    let (status, _, body) = send(client.get(&url).bearer_auth(&token)).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("ExpiredAuthenticationToken"))
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("The access token expiry UTC time '"))
    );

    let outsider = token_for(&sim, OTHER_TENANT, OUTSIDER, OUTSIDER_SECRET).await;
    let (status, _, body) = send(client.get(&url).bearer_auth(&outsider)).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("InvalidAuthenticationTokenTenant"))
    );
}

async fn token_for(sim: &azure_sim::SimHandle, tenant: &str, client: &str, secret: &str) -> String {
    token(sim, tenant, client, secret).await
}

#[tokio::test]
async fn rbac_refusals_are_403_authorization_failed() {
    let sim = start(world()).await;
    let client = http(&sim);
    let reader = token(&sim, TENANT, READER, READER_SECRET).await;
    let (status, _, _) = send(client.get(contact_url(&sim, SUBS[0])).bearer_auth(&reader)).await;
    assert_eq!(status, 404, "reader may read");
    let (status, _, body) = send(
        client
            .put(contact_url(&sim, SUBS[0]))
            .bearer_auth(&reader)
            .json(&json!({"properties": sample_properties()})),
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(body["error"]["code"], "AuthorizationFailed");
    assert_eq!(
        body["error"]["message"],
        format!(
            "The client '{READER_OID}' with object id '{READER_OID}' does not have authorization to perform action 'Microsoft.Security/securityContacts/write' over scope '/subscriptions/{}/providers/Microsoft.Security/securityContacts/default' or the scope is invalid. If access was recently granted, please refresh your credentials.",
            SUBS[0]
        )
    );

    let writer = writer_token(&sim).await;
    let (status, _, body) = send(
        client
            .get(contact_url(&sim, HIDDEN_SUB))
            .bearer_auth(&writer),
    )
    .await;
    assert_eq!(status, 403);
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("'Microsoft.Security/securityContacts/read'"))
    );

    // Granting through the control object takes effect at once (same token).
    sim.state()
        .set_access(HIDDEN_SUB, WRITER, azure_sim::Access::Read)
        .expect("grant");
    let (status, _, _) = send(
        client
            .get(contact_url(&sim, HIDDEN_SUB))
            .bearer_auth(&writer),
    )
    .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn unknown_unregistered_disabled_and_bad_api_version() {
    let sim = start(world()).await;
    let client = http(&sim);
    let token = writer_token(&sim).await;

    let (status, _, body) = send(
        client
            .get(contact_url(&sim, UNKNOWN_SUB))
            .bearer_auth(&token),
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "SubscriptionNotFound");
    assert_eq!(
        body["error"]["message"],
        format!("The subscription '{UNKNOWN_SUB}' could not be found.")
    );

    sim.state()
        .set_security_registered(SUBS[1], false)
        .expect("known");
    let (status, _, body) = send(client.get(contact_url(&sim, SUBS[1])).bearer_auth(&token)).await;
    assert_eq!(status, 404);
    assert_eq!(
        body,
        json!({"error": {"code": "Subscription Not Registered",
            "message": "Please register to Microsoft.Security in order to view your security status"}})
    );

    sim.state()
        .set_subscription_state(SUBS[2], SubscriptionState::Disabled)
        .expect("known");
    let (status, _, _) = send(client.get(contact_url(&sim, SUBS[2])).bearer_auth(&token)).await;
    assert_eq!(status, 404, "reads still work on a disabled subscription");
    let (status, _, body) = send(
        client
            .put(contact_url(&sim, SUBS[2]))
            .bearer_auth(&token)
            .json(&json!({"properties": {}})),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("ReadOnlyDisabledSubscription"))
    );

    let old = contact_url(&sim, SUBS[0]).replace("2023-12-01-preview", "2020-01-01-preview");
    let (status, _, body) = send(client.get(old).bearer_auth(&token)).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "InvalidApiVersionParameter");
    assert_eq!(
        body["error"]["message"],
        "The api-version '2020-01-01-preview' is invalid. The supported versions are '2023-12-01-preview'."
    );
    let none = contact_url(&sim, SUBS[0]).replace("?api-version=2023-12-01-preview", "");
    let (status, _, body) = send(client.get(none).bearer_auth(&token)).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("MissingApiVersionParameter"))
    );
}

#[tokio::test]
async fn every_arm_response_carries_request_ids() {
    let sim = start(world()).await;
    let client = http(&sim);
    let token = writer_token(&sim).await;
    let (_, headers, _) = send(
        client
            .get(contact_url(&sim, SUBS[0]))
            .bearer_auth(&token)
            .header("x-ms-correlation-request-id", "my-correlation"),
    )
    .await;
    assert_eq!(
        header(&headers, "x-ms-correlation-request-id"),
        Some("my-correlation")
    );
    assert!(header(&headers, "x-ms-request-id").is_some());
    assert!(
        header(&headers, "x-ms-routing-request-id").is_some_and(|v| v.starts_with("SIMULATOR:"))
    );
    // Errors too, and a fresh correlation id when the client sent none.
    let (_, headers, _) = send(client.get(contact_url(&sim, SUBS[0]))).await;
    assert!(header(&headers, "x-ms-correlation-request-id").is_some_and(|v| v.len() == 36));
    assert!(header(&headers, "x-ms-routing-request-id").is_some());
}

// ---------------------------------------------------------------------------------------------
// Entra token endpoint

#[tokio::test]
async fn bad_secret_surfaces_aadsts7000215_without_the_secret() {
    let sim = start(world()).await;
    let wrong = "this-is-the-wrong-secret-value";
    let error = secret_credential(&sim, TENANT, WRITER, wrong)
        .get_token(&[ARM_SCOPE], None)
        .await
        .expect_err("a wrong secret must fail");
    let text = format!("{error} {error:?}");
    assert!(text.contains("AADSTS7000215"), "{text}");
    assert!(
        !text.contains(wrong),
        "the secret leaked into the error: {text}"
    );
    assert!(!text.contains(WRITER_SECRET));
}

#[tokio::test]
async fn token_endpoint_errors_have_entra_codes() {
    let sim = start(world()).await;
    let message = |result: azure_core::Result<azure_core::credentials::AccessToken>| match result {
        Ok(_) => panic!("expected an error"),
        Err(error) => format!("{error}"),
    };
    let unknown_client = message(
        secret_credential(&sim, TENANT, "nobody", "x")
            .get_token(&[ARM_SCOPE], None)
            .await,
    );
    assert!(unknown_client.contains("AADSTS700016"), "{unknown_client}");
    let unknown_tenant = message(
        secret_credential(&sim, "no-such-tenant", WRITER, WRITER_SECRET)
            .get_token(&[ARM_SCOPE], None)
            .await,
    );
    assert!(unknown_tenant.contains("AADSTS90002"), "{unknown_tenant}");
    let wrong_resource = message(
        secret_credential(&sim, TENANT, WRITER, WRITER_SECRET)
            .get_token(&["https://vault.azure.net/.default"], None)
            .await,
    );
    assert!(wrong_resource.contains("AADSTS500011"), "{wrong_resource}");

    // The raw wire shape, for a scope without /.default.
    let (status, headers, body) = send(
        http(&sim)
            .post(format!("{}{TENANT}/oauth2/v2.0/token", sim.url()))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!(
                "client_id={WRITER}&client_secret={WRITER_SECRET}&grant_type=client_credentials&scope=https%3A%2F%2Fmanagement.azure.com%2Fuser_impersonation"
            )),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_scope");
    assert_eq!(body["error_codes"], json!([1002012]));
    for field in [
        "error_description",
        "timestamp",
        "trace_id",
        "correlation_id",
    ] {
        assert!(body[field].is_string(), "{field} missing: {body}");
    }
    assert!(
        body["error_description"]
            .as_str()
            .is_some_and(|d| d.starts_with("AADSTS1002012: "))
    );
    assert!(header(&headers, "x-ms-request-id").is_some());
    assert!(!body.to_string().contains(WRITER_SECRET));

    let (status, _, body) = send(
        http(&sim)
            .post(format!("{}{TENANT}/oauth2/v2.0/token", sim.url()))
            .body(format!("client_id={WRITER}&client_secret=nope&grant_type=client_credentials&scope=https%3A%2F%2Fmanagement.azure.com%2F.default")),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    assert_eq!(body["error_codes"], json!([7000215]));
}

#[tokio::test]
async fn openid_configuration_points_msal_at_the_token_endpoint() {
    let sim = start(world()).await;
    // The path may name the tenant in any case; the document uses its id as stored.
    let url = format!(
        "{}{}/v2.0/.well-known/openid-configuration",
        sim.url(),
        TENANT.to_uppercase()
    );
    let (status, headers, body) = send(http(&sim).get(&url)).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        header(&headers, "content-type").is_some_and(|c| c.starts_with("application/json")),
        "{headers:?}"
    );
    let token_endpoint = format!("{}{TENANT}/oauth2/v2.0/token", sim.url());
    assert_eq!(body["token_endpoint"], json!(token_endpoint));
    assert_eq!(body["issuer"], json!(format!("{}{TENANT}/v2.0", sim.url())));
    for field in ["authorization_endpoint", "jwks_uri", "end_session_endpoint"] {
        assert!(
            body[field]
                .as_str()
                .is_some_and(|u| u.starts_with(&format!("{}{TENANT}/", sim.url()))),
            "{field}: {body}"
        );
    }
    assert!(
        body["token_endpoint_auth_methods_supported"]
            .as_array()
            .is_some_and(|m| m.contains(&json!("client_secret_post")))
    );
    // The endpoint it names issues tokens.
    let (status, _, token) = send(
        http(&sim)
            .post(&token_endpoint)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("client_id={WRITER}&client_secret={WRITER_SECRET}&grant_type=client_credentials&scope=https%3A%2F%2Fmanagement.azure.com%2F.default")),
    )
    .await;
    assert_eq!(status, 200, "{token}");
    assert!(token["access_token"].is_string());

    let (status, _, body) = send(http(&sim).get(format!(
        "{}no-such-tenant/v2.0/.well-known/openid-configuration",
        sim.url()
    )))
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_tenant"))
    );
    assert_eq!(body["error_codes"], json!([90002]));
    let (status, _, _) = send(http(&sim).post(&url)).await;
    assert_eq!(status, 405);
    assert_eq!(
        sim.state()
            .requests()
            .count("GET", RouteKind::OpenIdConfiguration, None),
        2
    );
}

#[tokio::test]
async fn token_success_shape_and_workload_identity() {
    let sim = start(world()).await;
    let (status, _, body) = send(
        http(&sim)
            .post(format!("{}{TENANT}/oauth2/v2.0/token", sim.url()))
            .body(format!("client_id={WRITER}&client_secret={WRITER_SECRET}&grant_type=client_credentials&scope=https%3A%2F%2Fmanagement.azure.com%2F.default")),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3599);
    assert_eq!(body["ext_expires_in"], 3599);
    assert!(body["access_token"].as_str().is_some_and(|t| t.len() > 32));

    // A projected service-account token signed by the trusted issuer, through the real
    // WorkloadIdentityCredential (token file), buys an ARM token that ARM accepts.
    let (credential, _dir) = workload_credential(&sim, FEDERATED, &issuer().operator_token());
    let token = credential
        .get_token(&[ARM_SCOPE], None)
        .await
        .expect("federated assertion accepted");
    let (status, _, _) = send(
        http(&sim)
            .put(contact_url(&sim, SUBS[3]))
            .bearer_auth(token.token.secret())
            .json(&json!({"properties": sample_properties()})),
    )
    .await;
    assert_eq!(status, 201);
    // The cached token is reused: no second token request.
    credential
        .get_token(&[ARM_SCOPE], None)
        .await
        .expect("cached");
    assert_eq!(
        sim.state().requests().count("POST", RouteKind::Token, None),
        2
    );
}

// ---------------------------------------------------------------------------------------------
// Workload identity federation

/// The error text the real `WorkloadIdentityCredential` reports for `assertion`.
async fn federated_refusal(sim: &azure_sim::SimHandle, assertion: &str) -> String {
    let (credential, _dir) = workload_credential(sim, FEDERATED, assertion);
    match credential.get_token(&[ARM_SCOPE], None).await {
        Ok(_) => panic!("the assertion was accepted"),
        Err(error) => format!("{error}"),
    }
}

/// The token endpoint's raw answer to `assertion` for `FEDERATED`.
async fn assertion_answer(sim: &azure_sim::SimHandle, assertion: &str) -> (u16, Value) {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", FEDERATED)
        .append_pair("grant_type", "client_credentials")
        .append_pair("scope", ARM_SCOPE)
        .append_pair(
            "client_assertion_type",
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        )
        .append_pair("client_assertion", assertion)
        .finish();
    let (status, _, body) = send(
        http(sim)
            .post(format!("{}{TENANT}/oauth2/v2.0/token", sim.url()))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body),
    )
    .await;
    (status, body)
}

/// Checks that `assertion` is refused with `code`, both through `azure_identity` and on the
/// wire (status, `error`, `error_codes`), and that the assertion is echoed nowhere; returns
/// the error text.
async fn assert_refused(
    sim: &azure_sim::SimHandle,
    assertion: &str,
    status: u16,
    error: &str,
    code: u64,
) -> String {
    let text = federated_refusal(sim, assertion).await;
    assert!(text.contains(&format!("AADSTS{code}: ")), "{text}");
    let (actual, body) = assertion_answer(sim, assertion).await;
    assert_eq!(
        (actual, body["error"].as_str(), &body["error_codes"]),
        (status, Some(error), &json!([code])),
        "{body}"
    );
    assert!(
        body["error_description"]
            .as_str()
            .is_some_and(|d| d.starts_with(&format!("AADSTS{code}: "))),
        "{body}"
    );
    if assertion.len() > 20 {
        assert!(!text.contains(assertion), "assertion echoed: {text}");
        assert!(!body.to_string().contains(assertion), "assertion echoed");
    }
    text
}

#[tokio::test]
async fn assertion_for_another_subject_is_refused_with_700213() {
    let sim = start(world()).await;
    let other = issuer().sign(&issuer().service_account_claims(SA_NAMESPACE, "someone-else"));
    let text = assert_refused(&sim, &other, 401, "invalid_client", 700213).await;
    assert!(
        text.contains(
            "No matching federated identity record found for presented assertion subject 'system:serviceaccount:sco-system:someone-else'."
        ),
        "{text}"
    );
    // Entra matches subjects case-sensitively, and says so when only the case differs.
    let shouting = issuer().sign(&issuer().service_account_claims("SCO-system", SA_NAME));
    let text = assert_refused(&sim, &shouting, 401, "invalid_client", 7002138).await;
    assert!(text.contains("case-insensitive comparison"), "{text}");
}

#[tokio::test]
async fn assertion_for_another_audience_is_refused_with_700212() {
    let sim = start(world()).await;
    let mut claims = issuer().service_account_claims(SA_NAMESPACE, SA_NAME);
    claims["aud"] = json!("https://kubernetes.default.svc.cluster.local");
    let wrong = issuer().sign(&claims);
    let text = assert_refused(&sim, &wrong, 401, "invalid_client", 700212).await;
    assert!(
        text.contains(
            "presented assertion audience 'https://kubernetes.default.svc.cluster.local'"
        ),
        "{text}"
    );
    // `aud` may be an array: one accepted audience among others is enough.
    claims["aud"] = json!([
        "https://kubernetes.default.svc.cluster.local",
        azure_sim::DEFAULT_FEDERATED_AUDIENCE
    ]);
    let (status, body) = assertion_answer(&sim, &issuer().sign(&claims)).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn assertion_from_an_untrusted_issuer_is_refused_with_700211() {
    let sim = start(world()).await;
    // The issuer must match exactly: the trusted one without its trailing slash is another.
    let mut claims = issuer().service_account_claims(SA_NAMESPACE, SA_NAME);
    let untrusted = ISSUER.trim_end_matches('/');
    claims["iss"] = json!(untrusted);
    let text = assert_refused(&sim, &issuer().sign(&claims), 401, "invalid_client", 700211).await;
    assert!(
        text.contains(&format!(
            "No matching federated identity record found for presented assertion issuer '{untrusted}'."
        )),
        "{text}"
    );
}

#[tokio::test]
async fn assertion_signed_by_another_key_is_refused() {
    let sim = start(world()).await;
    // Same issuer and kid, another key: the signature does not verify.
    let impostor = TestIssuer::rsa(ISSUER, ISSUER_KID);
    let forged = impostor.operator_token();
    let text = assert_refused(&sim, &forged, 401, "invalid_client", 700027).await;
    assert!(
        text.contains("Client assertion failed signature validation."),
        "{text}"
    );
    // A kid the issuer's JWKS does not have.
    let rotated = TestIssuer::ec(ISSUER, "not-published");
    let text = assert_refused(
        &sim,
        &rotated.operator_token(),
        401,
        "invalid_client",
        7000272,
    )
    .await;
    assert!(
        text.contains(&format!(
            "used to sign the federated credential could not be found in the metadata of identity provider {ISSUER}."
        )),
        "{text}"
    );
}

#[tokio::test]
async fn expired_or_premature_assertion_is_refused_with_700024() {
    let sim = start(world()).await;
    let now = unix_now();
    let mut claims = issuer().service_account_claims(SA_NAMESPACE, SA_NAME);
    claims["iat"] = json!(now - 7200);
    claims["nbf"] = json!(now - 7200);
    claims["exp"] = json!(now - 3600);
    let text = assert_refused(&sim, &issuer().sign(&claims), 401, "invalid_client", 700024).await;
    assert!(
        text.contains("Client assertion is not within its valid time range. Current time: "),
        "{text}"
    );
    assert!(text.contains("expiry time of assertion 20"), "{text}");
    assert!(text.contains(".0000000Z."), "{text}");

    claims["nbf"] = json!(now + 3600);
    claims["exp"] = json!(now + 7200);
    assert_refused(&sim, &issuer().sign(&claims), 401, "invalid_client", 700024).await;

    // Within the clock skew both ways is fine.
    claims["nbf"] = json!(now + 60);
    claims["exp"] = json!(now - 60);
    let (status, body) = assertion_answer(&sim, &issuer().sign(&claims)).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn malformed_assertion_is_refused_with_50027() {
    let sim = start(world()).await;
    for garbage in ["some.other.assertion", "not-a-jwt", "e30.e30.e30"] {
        let text = assert_refused(&sim, garbage, 400, "invalid_request", 50027).await;
        assert!(
            text.contains("JWT token is invalid or malformed."),
            "{text}"
        );
    }
    // A valid token with its payload swapped keeps three segments but is no longer signed
    // by the issuer.
    let token = issuer().operator_token();
    let parts: Vec<&str> = token.split('.').collect();
    let other = issuer().sign(&issuer().service_account_claims(SA_NAMESPACE, "other"));
    let spliced = format!(
        "{}.{}.{}",
        parts[0],
        other.split('.').nth(1).unwrap_or(""),
        parts[2]
    );
    assert_refused(&sim, &spliced, 401, "invalid_client", 700027).await;
}

#[tokio::test]
async fn assertion_claims_algorithms_and_unknown_issuers_keys() {
    let sim = start(world()).await;
    let mut claims = issuer().service_account_claims(SA_NAMESPACE, SA_NAME);
    claims.as_object_mut().map(|c| c.remove("sub"));
    let text = assert_refused(&sim, &issuer().sign(&claims), 400, "invalid_request", 90014).await;
    assert!(
        text.contains("The required field 'sub' is missing from the credential."),
        "{text}"
    );

    // A symmetric signature is never accepted, whatever the secret.
    let hs256 = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &issuer().service_account_claims(SA_NAMESPACE, SA_NAME),
        &jsonwebtoken::EncodingKey::from_secret(b"guessable"),
    )
    .expect("HS256 token");
    let text = assert_refused(&sim, &hs256, 401, "invalid_client", 5002738).await;
    assert!(
        text.contains("'HS256' is not a supported signature algorithm"),
        "{text}"
    );

    // A credential for an issuer whose keys the simulator was never given.
    let elsewhere = TestIssuer::ec("https://elsewhere.example", "k");
    sim.state()
        .add_federated_credential(
            TENANT,
            FEDERATED,
            azure_sim::FederatedCredentialSeed::kubernetes(&elsewhere.url, SA_NAMESPACE, SA_NAME),
        )
        .expect("credential added");
    assert_refused(
        &sim,
        &elsewhere.operator_token(),
        400,
        "invalid_request",
        90061,
    )
    .await;
}

#[tokio::test]
async fn federation_is_configurable_over_the_control_api() {
    let sim = start(world()).await;
    let client = http(&sim);
    let second = TestIssuer::ec("https://second-cluster.example", "ec-1");
    let runner = second.sign(&second.service_account_claims("apps", "runner"));
    let credentials = format!(
        "{}_sim/tenants/{TENANT}/principals/{FEDERATED}/federated-credentials",
        sim.url()
    );

    // Before the credential exists, the issuer is unknown to the application.
    assert_refused(&sim, &runner, 401, "invalid_client", 700211).await;
    let (status, _, _) = send(
        client
            .put(format!("{credentials}/apps-runner"))
            .json(&json!({"issuer": second.url, "subject": "system:serviceaccount:apps:runner"})),
    )
    .await;
    assert_eq!(status, 201);
    // Trusted, but its keys are unknown until the test hands over the JWKS.
    assert_refused(&sim, &runner, 400, "invalid_request", 90061).await;
    let (status, _, _) = send(
        client
            .put(format!("{}_sim/oidc-issuers", sim.url()))
            .json(&json!({"issuer": second.url, "jwks": second.jwks})),
    )
    .await;
    assert_eq!(status, 201);
    let (credential, _dir) = workload_credential(&sim, FEDERATED, &runner);
    credential
        .get_token(&[ARM_SCOPE], None)
        .await
        .expect("ES256 assertion of the new issuer accepted");

    // Key rotation: the replaced JWKS no longer has the old kid.
    let rotated = TestIssuer::ec(&second.url, "ec-2");
    let (status, _, _) = send(
        client
            .put(format!("{}_sim/oidc-issuers", sim.url()))
            .json(&rotated.seed()),
    )
    .await;
    assert_eq!(status, 204);
    assert_refused(&sim, &runner, 401, "invalid_client", 7000272).await;
    let fresh = rotated.sign(&rotated.service_account_claims("apps", "runner"));
    assert_eq!(assertion_answer(&sim, &fresh).await.0, 200);

    let (status, _, listed) = send(client.get(&credentials)).await;
    assert_eq!(status, 200);
    assert_eq!(listed.as_array().map(Vec::len), Some(2));
    assert_eq!(
        listed[1]["audiences"],
        json!(["api://AzureADTokenExchange"])
    );
    let (status, _, _) = send(client.delete(format!("{credentials}/apps-runner"))).await;
    assert_eq!(status, 204);
    let (status, _, _) = send(client.delete(format!("{credentials}/apps-runner"))).await;
    assert_eq!(status, 404);
    assert_refused(&sim, &fresh, 401, "invalid_client", 700211).await;

    // Refusals of the control API itself.
    let (status, _, _) = send(
        client
            .put(format!(
                "{}_sim/tenants/{TENANT}/principals/nobody/federated-credentials/x",
                sim.url()
            ))
            .json(&json!({"issuer": second.url, "subject": "s"})),
    )
    .await;
    assert_eq!(status, 404);
    let (status, _, _) = send(
        client
            .put(format!("{credentials}/dup"))
            .json(&json!({"issuer": ISSUER, "subject": format!("system:serviceaccount:{SA_NAMESPACE}:{SA_NAME}")})),
    )
    .await;
    assert_eq!(status, 400, "one credential per issuer and subject");
    let (status, _, _) = send(
        client
            .put(format!("{credentials}/empty"))
            .json(&json!({"issuer": ISSUER, "subject": "s", "audiences": []})),
    )
    .await;
    assert_eq!(status, 400);
    let (status, _, _) = send(
        client
            .put(format!("{}_sim/oidc-issuers", sim.url()))
            .json(&json!({"issuer": "https://x.example", "jwks": {"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}})),
    )
    .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn yaml_seed_with_oidc_issuers_and_federated_credentials() {
    let yaml = format!(
        r#"
oidcIssuers:
  - issuer: {ISSUER}
    jwks: {jwks}
tenants:
  - id: {TENANT}
    principals:
      - clientId: {FEDERATED}
        federatedCredentials:
          - name: operator
            issuer: {ISSUER}
            subject: system:serviceaccount:{SA_NAMESPACE}:{SA_NAME}
        access: {{ "*": readWrite }}
    subscriptions:
      - id: {sub}
"#,
        jwks = issuer().jwks,
        sub = SUBS[0],
    );
    let config = SimConfig::from_yaml_str(&yaml).expect("seed");
    assert_eq!(
        config.tenants[0].principals[0].federated_credentials[0].audiences,
        [azure_sim::DEFAULT_FEDERATED_AUDIENCE]
    );
    let sim = start(config).await;
    let (credential, _dir) = workload_credential(&sim, FEDERATED, &issuer().operator_token());
    let token = credential
        .get_token(&[ARM_SCOPE], None)
        .await
        .expect("federated assertion accepted");
    let (status, _, _) = send(
        http(&sim)
            .get(contact_url(&sim, SUBS[0]))
            .bearer_auth(token.token.secret()),
    )
    .await;
    assert_eq!(status, 404, "authenticated: no contact yet");
}

// ---------------------------------------------------------------------------------------------
// Throttling and faults

#[tokio::test]
async fn small_buckets_count_down_then_answer_429() {
    let mut config = world();
    config.throttle = ThrottleConfig::uniform(BucketConfig::new(3, 0.01));
    let sim = start(config).await;
    let client = http(&sim);
    let token = writer_token(&sim).await;
    let mut remaining = Vec::new();
    for _ in 0..3 {
        let (status, headers, _) =
            send(client.get(contact_url(&sim, SUBS[0])).bearer_auth(&token)).await;
        assert_eq!(status, 404);
        remaining.push(
            header(&headers, "x-ms-ratelimit-remaining-subscription-reads").map(str::to_owned),
        );
    }
    assert_eq!(
        remaining,
        [Some("2".into()), Some("1".into()), Some("0".into())]
    );

    let (status, headers, body) =
        send(client.get(contact_url(&sim, SUBS[0])).bearer_auth(&token)).await;
    assert_eq!(status, 429);
    assert_eq!(body["error"]["code"], "SubscriptionRequestsThrottled");
    let retry_after: u64 = header(&headers, "retry-after")
        .and_then(|v| v.parse().ok())
        .expect("Retry-After seconds");
    assert!((90..=100).contains(&retry_after), "{retry_after}");
    assert_eq!(
        header(&headers, "x-ms-ratelimit-remaining-subscription-reads"),
        Some("0")
    );

    // Other subscriptions and the write bucket are separate.
    let (status, _, _) = send(client.get(contact_url(&sim, SUBS[1])).bearer_auth(&token)).await;
    assert_eq!(status, 404);
    let (status, headers, _) = send(
        client
            .put(contact_url(&sim, SUBS[0]))
            .bearer_auth(&token)
            .json(&json!({"properties": {}})),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(
        header(&headers, "x-ms-ratelimit-remaining-subscription-writes"),
        Some("2")
    );

    // Reconfiguring refills the buckets.
    sim.state()
        .set_throttle(ThrottleConfig::default())
        .expect("valid");
    let (status, headers, _) =
        send(client.get(contact_url(&sim, SUBS[0])).bearer_auth(&token)).await;
    assert_eq!(status, 200);
    assert_eq!(
        header(&headers, "x-ms-ratelimit-remaining-subscription-reads"),
        Some("249")
    );
}

#[tokio::test]
async fn tenant_reads_bucket_throttles_subscription_listing() {
    let mut config = world();
    config.throttle.tenant_reads = BucketConfig::new(1, 0.01);
    let sim = start(config).await;
    let client = http(&sim);
    let token = writer_token(&sim).await;
    let url = format!("{}subscriptions?api-version=2022-12-01", sim.url());
    let (status, headers, _) = send(client.get(&url).bearer_auth(&token)).await;
    assert_eq!(
        (
            status,
            header(&headers, "x-ms-ratelimit-remaining-tenant-reads")
        ),
        (200, Some("0"))
    );
    let (status, headers, body) = send(client.get(&url).bearer_auth(&token)).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (429, Some("TenantRequestsThrottled"))
    );
    assert!(header(&headers, "retry-after").is_some());
}

#[tokio::test]
async fn storm_answers_429_for_the_next_n_scoped_requests() {
    let sim = start(world()).await;
    let client = http(&sim);
    let token = writer_token(&sim).await;
    sim.state()
        .set_faults(FaultConfig {
            seed: Some(3),
            rules: vec![FaultRule {
                subscription: Some(SUBS[0].to_uppercase()),
                storm: Some(Storm {
                    requests: Some(2),
                    seconds: None,
                    retry_after_secs: 3,
                    retry_after_ms: Some(150),
                }),
                ..FaultRule::default()
            }],
        })
        .expect("valid faults");
    for _ in 0..2 {
        let (status, headers, body) =
            send(client.get(contact_url(&sim, SUBS[0])).bearer_auth(&token)).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (429, Some("TooManyRequests"))
        );
        assert_eq!(header(&headers, "retry-after"), Some("3"));
        assert_eq!(header(&headers, "x-ms-retry-after-ms"), Some("150"));
        assert!(header(&headers, "x-ms-request-id").is_some());
    }
    let (status, _, _) = send(client.get(contact_url(&sim, SUBS[1])).bearer_auth(&token)).await;
    assert_eq!(status, 404, "other subscriptions are outside the storm");
    let (status, _, _) = send(client.get(contact_url(&sim, SUBS[0])).bearer_auth(&token)).await;
    assert_eq!(status, 404, "the storm is over");
    assert_eq!(sim.state().requests().with_status(429), 2);
}

#[tokio::test]
async fn timed_storm_over_the_control_api() {
    let sim = start(world()).await;
    let client = http(&sim);
    let token = writer_token(&sim).await;
    let (status, _, _) = send(client.put(format!("{}_sim/faults", sim.url())).json(
        &json!({"rules": [{"method": "GET", "storm": {"seconds": 0.3, "retryAfterSecs": 1}}]}),
    ))
    .await;
    assert_eq!(status, 204);
    let (status, _, _) = send(client.get(contact_url(&sim, SUBS[0])).bearer_auth(&token)).await;
    assert_eq!(status, 429);
    let (status, _, _) = send(
        client
            .put(contact_url(&sim, SUBS[0]))
            .bearer_auth(&token)
            .json(&json!({"properties": {}})),
    )
    .await;
    assert_eq!(status, 201, "PUT is outside the GET-scoped storm");
    tokio::time::sleep(Duration::from_millis(350)).await;
    let (status, _, _) = send(client.get(contact_url(&sim, SUBS[0])).bearer_auth(&token)).await;
    assert_eq!(status, 200);
    let (_, _, faults) = send(client.get(format!("{}_sim/faults", sim.url()))).await;
    assert_eq!(faults["rules"][0]["storm"]["retryAfterSecs"], 1);
}

#[tokio::test]
async fn latency_is_injected() {
    let sim = start(world()).await;
    let client = http(&sim);
    let token = writer_token(&sim).await;
    // Warm the connection so the measurement is the injected delay, not the TLS handshake.
    send(client.get(contact_url(&sim, SUBS[0])).bearer_auth(&token)).await;
    sim.state()
        .set_faults(FaultConfig {
            seed: Some(1),
            rules: vec![FaultRule {
                route: Some(RouteKind::SecurityContact),
                latency: Some(Latency::Uniform {
                    min_ms: 120,
                    max_ms: 160,
                }),
                ..FaultRule::default()
            }],
        })
        .expect("valid");
    let started = Instant::now();
    let (status, _, _) = send(client.get(contact_url(&sim, SUBS[0])).bearer_auth(&token)).await;
    let elapsed = started.elapsed();
    assert_eq!(status, 404);
    assert!(elapsed >= Duration::from_millis(120), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
    // LIST is another route kind and is not delayed.
    let started = Instant::now();
    send(client.get(contacts_url(&sim, SUBS[0])).bearer_auth(&token)).await;
    assert!(started.elapsed() < Duration::from_millis(120));
}

#[tokio::test]
async fn reset_closes_the_connection_without_a_response() {
    let sim = start(world()).await;
    let client = http(&sim);
    let token = writer_token(&sim).await;
    sim.state()
        .set_faults(FaultConfig {
            seed: Some(9),
            rules: vec![FaultRule {
                method: Some("PUT".into()),
                reset_rate: 1.0,
                ..FaultRule::default()
            }],
        })
        .expect("valid");
    let error = client
        .put(contact_url(&sim, SUBS[0]))
        .bearer_auth(&token)
        .json(&json!({"properties": sample_properties()}))
        .send()
        .await
        .expect_err("the connection is reset");
    assert!(
        error.is_request() || error.is_connect() || error.is_body(),
        "{error:?}"
    );
    assert_eq!(
        sim.state().contact(SUBS[0]).expect("known"),
        None,
        "a reset PUT changes nothing"
    );
    assert_eq!(
        sim.state()
            .requests()
            .matching(|c| c.method == "PUT" && c.status == STATUS_RESET),
        1
    );

    sim.state().clear_faults();
    let (status, _, _) = send(
        client
            .put(contact_url(&sim, SUBS[0]))
            .bearer_auth(&token)
            .json(&json!({"properties": sample_properties()})),
    )
    .await;
    assert_eq!(status, 201, "the client reconnects after the reset");
}

#[tokio::test]
async fn error_rate_answers_500_or_503_with_arm_bodies() {
    let sim = start(world()).await;
    let client = http(&sim);
    let token = writer_token(&sim).await;
    sim.state()
        .set_faults(FaultConfig {
            seed: Some(5),
            rules: vec![FaultRule {
                route: Some(RouteKind::SecurityContact),
                error_rate: 1.0,
                ..FaultRule::default()
            }],
        })
        .expect("valid");
    let mut codes = std::collections::BTreeSet::new();
    for _ in 0..12 {
        let (status, _, body) =
            send(client.get(contact_url(&sim, SUBS[0])).bearer_auth(&token)).await;
        let code = body["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        match status {
            500 => assert_eq!(code, "InternalServerError"),
            503 => assert_eq!(code, "ServiceUnavailable"),
            other => panic!("unexpected {other}"),
        }
        codes.insert(code);
    }
    assert_eq!(codes.len(), 2, "both 500 and 503 occur");
}

// ---------------------------------------------------------------------------------------------
// Counters, control API, seeding

#[tokio::test]
async fn counters_by_method_route_subscription_and_status() {
    let sim = start(world()).await;
    let client = http(&sim);
    let token = writer_token(&sim).await;
    sim.state().reset_requests();
    for sub in &SUBS[..3] {
        send(client.get(contact_url(&sim, sub)).bearer_auth(&token)).await;
    }
    send(
        client
            .put(contact_url(&sim, SUBS[1]))
            .bearer_auth(&token)
            .json(&json!({"properties": {}})),
    )
    .await;
    let counts = sim.state().requests();
    for sub in &SUBS[..3] {
        assert_eq!(
            counts.count("GET", RouteKind::SecurityContact, Some(sub)),
            1
        );
    }
    assert_eq!(counts.count("PUT", RouteKind::SecurityContact, None), 1);
    assert_eq!(
        counts.count("PUT", RouteKind::SecurityContact, Some(SUBS[0])),
        0
    );
    assert_eq!(counts.with_status(404), 3);
    assert_eq!(counts.with_status(201), 1);
    assert_eq!(counts.total, 4);

    // The same over HTTP; control requests themselves are not counted.
    let (status, _, body) = send(client.get(format!("{}_sim/requests", sim.url()))).await;
    assert_eq!(status, 200);
    assert_eq!(body["total"], 4);
    assert!(
        body["entries"]
            .as_array()
            .is_some_and(|e| e.iter().any(|c| c["route"] == "securityContact"
                && c["method"] == "PUT"
                && c["status"] == 201
                && c["subscription"] == SUBS[1]))
    );
    let (status, _, _) = send(client.post(format!("{}_sim/requests/reset", sim.url()))).await;
    assert_eq!(status, 204);
    assert_eq!(sim.state().requests().total, 0);
}

#[tokio::test]
async fn portal_edits_through_the_control_api() {
    let sim = start(world()).await;
    let client = http(&sim);
    let token = writer_token(&sim).await;
    let edited =
        json!({"emails": "security@contoso.com, intruder@fabrikam.example", "isEnabled": true});
    let control = format!("{}_sim/contacts/{}", sim.url(), SUBS[0]);
    let (status, _, _) = send(client.put(&control).json(&edited)).await;
    assert_eq!(status, 201);
    let (status, _, body) = send(client.get(contact_url(&sim, SUBS[0])).bearer_auth(&token)).await;
    assert_eq!(status, 200);
    assert_eq!(body["properties"], edited);
    let (status, _, body) = send(client.get(&control)).await;
    assert_eq!((status, body), (200, edited));
    let (status, _, _) = send(client.delete(&control)).await;
    assert_eq!(status, 204);
    let (status, _, _) = send(client.get(&control)).await;
    assert_eq!(status, 404);
    let (status, _, _) =
        send(client.get(format!("{}_sim/contacts/{UNKNOWN_SUB}", sim.url()))).await;
    assert_eq!(status, 404);

    // RBAC, registration and subscription state over HTTP too.
    let (status, _, _) = send(
        client
            .put(format!("{}_sim/access/{}/{WRITER}", sim.url(), SUBS[0]))
            .json(&json!({"access": "read"})),
    )
    .await;
    assert_eq!(status, 204);
    let (status, _, _) = send(
        client
            .put(contact_url(&sim, SUBS[0]))
            .bearer_auth(&token)
            .json(&json!({"properties": {}})),
    )
    .await;
    assert_eq!(status, 403);
    let (status, _, _) = send(
        client
            .put(format!("{}_sim/subscriptions/{}", sim.url(), SUBS[1]))
            .json(&json!({"securityRegistered": false})),
    )
    .await;
    assert_eq!(status, 204);
    let (_, _, body) = send(client.get(contact_url(&sim, SUBS[1])).bearer_auth(&token)).await;
    assert_eq!(body["error"]["code"], "Subscription Not Registered");
    let (status, _, _) = send(
        client
            .put(format!("{}_sim/faults", sim.url()))
            .json(&json!({"rules": [{"errorRate": 2}]})),
    )
    .await;
    assert_eq!(status, 400);
    // Only the three ARM calls were counted.
    assert_eq!(
        sim.state()
            .requests()
            .count("GET", RouteKind::SecurityContact, None),
        2
    );
    assert_eq!(sim.state().requests().total, 4);
}

#[tokio::test]
async fn yaml_seed_end_to_end() {
    let yaml = format!(
        r#"
subscriptionPageSize: 1
throttle:
  subscriptionReads: {{ bucket: 5, refillPerSecond: 1 }}
tenants:
  - id: {TENANT}
    principals:
      - clientId: yaml-app
        clientSecret: yaml-secret
        objectId: 22222222-0000-0000-0000-000000000001
        access:
          "*": readWrite
    subscriptions:
      - id: {sub}
        displayName: From YAML
        tags: {{ costCenter: "42" }}
        contact:
          emails: "ops@contoso.com;sec@contoso.com"
          isEnabled: true
          notificationsByRole: {{ state: "On", roles: [Owner, AccountAdmin] }}
          notificationsSources:
            - sourceType: Alert
              minimalSeverity: Low
      - id: {sub2}
"#,
        sub = SUBS[0],
        sub2 = SUBS[1],
    );
    let config = SimConfig::from_yaml_str(&yaml).expect("seed");
    let sim = start(config).await;
    let client = http(&sim);
    let token = token(&sim, TENANT, "yaml-app", "yaml-secret").await;
    let (status, headers, body) =
        send(client.get(contact_url(&sim, SUBS[0])).bearer_auth(&token)).await;
    assert_eq!(status, 200);
    assert_eq!(
        body["properties"]["notificationsByRole"]["roles"],
        json!(["Owner", "AccountAdmin"])
    );
    assert_eq!(
        body["properties"]["notificationsSources"][0]["minimalSeverity"],
        "Low"
    );
    assert_eq!(
        header(&headers, "x-ms-ratelimit-remaining-subscription-reads"),
        Some("4")
    );
    let (_, _, page) = send(
        client
            .get(format!("{}subscriptions?api-version=2022-12-01", sim.url()))
            .bearer_auth(&token),
    )
    .await;
    assert_eq!(page["value"].as_array().map(Vec::len), Some(1));
    assert_eq!(page["value"][0]["displayName"], "From YAML");
    assert_eq!(page["value"][0]["tags"], json!({"costCenter": "42"}));
    assert!(page["nextLink"].is_string());

    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("seed.yaml");
    std::fs::write(&path, &yaml).expect("write");
    assert!(SimConfig::from_yaml_file(&path).is_ok());
    assert!(SimConfig::from_yaml_file(&dir.path().join("missing.yaml")).is_err());
}

#[tokio::test]
async fn demo_seed_shows_every_situation() {
    use azure_sim::*;
    let sim = start(SimConfig::demo()).await;
    let client = http(&sim);
    let token = token(&sim, DEMO_TENANT_ID, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET).await;
    let get = |sub: &str| send(client.get(contact_url(&sim, sub)).bearer_auth(&token));
    let put = |sub: &str| {
        send(
            client
                .put(contact_url(&sim, sub))
                .bearer_auth(&token)
                .json(&json!({"properties": {"emails": "security@contoso.com"}})),
        )
    };
    assert_eq!(get(DEMO_SUB_COMPLIANT).await.0, 200);
    assert_eq!(get(DEMO_SUB_CONTACT_MISSING).await.0, 404);
    let portal = get(DEMO_SUB_PORTAL_EDITED).await.2;
    assert!(
        portal["properties"]["emails"]
            .as_str()
            .is_some_and(|e| e.contains("fabrikam"))
    );
    assert_eq!(
        get(DEMO_SUB_CONTACT_DISABLED).await.2["properties"]["isEnabled"],
        false
    );
    assert_eq!(
        get(DEMO_SUB_WEAK_SEVERITY).await.2["properties"]["notificationsSources"][0]["minimalSeverity"],
        "High"
    );
    assert_eq!(get(DEMO_SUB_READ_ONLY).await.0, 404);
    let (status, _, body) = put(DEMO_SUB_READ_ONLY).await;
    assert_eq!(status, 403);
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains(DEMO_OBJECT_ID))
    );
    assert_eq!(get(DEMO_SUB_NO_ACCESS).await.0, 403);
    assert_eq!(
        get(DEMO_SUB_NOT_REGISTERED).await.2["error"]["code"],
        "Subscription Not Registered"
    );
    assert_eq!(get(DEMO_SUB_DISABLED).await.0, 404);
    assert_eq!(put(DEMO_SUB_DISABLED).await.0, 409);

    let mut url = format!("{}subscriptions?api-version=2022-12-01", sim.url());
    let mut listed = Vec::new();
    loop {
        let (_, _, body) = send(client.get(&url).bearer_auth(&token)).await;
        listed.extend(
            body["value"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|s| s["subscriptionId"].clone()),
        );
        match body["nextLink"].as_str() {
            Some(next) => url = next.to_owned(),
            None => break,
        }
    }
    assert_eq!(listed.len(), 8, "everything but the no-access subscription");
    assert!(!listed.contains(&json!(DEMO_SUB_NO_ACCESS)));
}

#[tokio::test]
async fn serve_until_writes_the_ca_and_stops_on_shutdown() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca_path = dir.path().join("ca.pem");
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let (url_tx, url_rx) = tokio::sync::oneshot::channel();
    let ca_for_server = ca_path.clone();
    let server = tokio::spawn(async move {
        azure_sim::serve_until(
            SimConfig::demo(),
            &ca_for_server,
            |handle| {
                let _ = url_tx.send((handle.url(), handle.ca_pem().to_owned()));
            },
            async {
                let _ = stop_rx.await;
            },
        )
        .await
    });
    let (url, ca_pem) = url_rx.await.expect("ready");
    assert_eq!(
        std::fs::read_to_string(&ca_path).expect("CA written"),
        ca_pem
    );
    let ca = reqwest::Certificate::from_pem(ca_pem.as_bytes()).expect("pem");
    let client = reqwest::Client::builder()
        .tls_certs_only([ca])
        .build()
        .expect("client");
    let response = client
        .get(format!("{url}_sim/requests"))
        .send()
        .await
        .expect("server answers");
    assert_eq!(response.status(), 200);
    stop_tx.send(()).expect("server waiting");
    server.await.expect("joined").expect("clean shutdown");
    assert!(
        client
            .get(format!("{url}_sim/requests"))
            .send()
            .await
            .is_err()
    );
}

#[tokio::test]
async fn etags_when_asked_for_make_if_match_a_real_precondition() {
    let sim = start(SimConfig {
        etags: true,
        ..world()
    })
    .await;
    let client = http(&sim);
    let token = writer_token(&sim).await;
    let sub = SUBS[0];
    let put = |tag: Option<&str>| {
        let mut request = client
            .put(contact_url(&sim, sub))
            .bearer_auth(&token)
            .json(&serde_json::json!({"properties": sample_properties()}));
        if let Some(tag) = tag {
            request = request.header("if-match", tag);
        }
        send(request)
    };
    let (status, _, body) = put(Some("*")).await;
    assert_eq!(status, 412, "If-Match: * needs an existing contact: {body}");
    let (status, _, created) = put(None).await;
    assert_eq!(status, 201);
    let tag = created["etag"].as_str().expect("etag").to_owned();
    let (status, _, got) = send(client.get(contact_url(&sim, sub)).bearer_auth(&token)).await;
    assert_eq!((status, got["etag"].as_str()), (200, Some(tag.as_str())));
    // A person edits in the portal: the tag we hold is stale now.
    sim.state()
        .set_contact(sub, serde_json::json!({"emails": "person@contoso.com"}))
        .unwrap();
    let (status, _, body) = put(Some(&tag)).await;
    assert_eq!(status, 412, "{body}");
    assert_eq!(body["error"]["code"], "PreconditionFailed");
    let (_, _, fresh) = send(client.get(contact_url(&sim, sub)).bearer_auth(&token)).await;
    let (status, _, _) = put(fresh["etag"].as_str()).await;
    assert_eq!(status, 200);
}

// ---------------------------------------------------------------------------------------------
// Management groups

const MG_A: &str = "mg-a";
const MG_B: &str = "mg-b";
const MG_FOREIGN: &str = "mg-foreign";
const GROUP_TYPE: &str = "Microsoft.Management/managementGroups";
const GROUP_SUB_TYPE: &str = "Microsoft.Management/managementGroups/subscriptions";

/// [`world`] with a hierarchy in `TENANT`: root ─ mg-a (SUBS[0]) ─ mg-b (SUBS[1]), SUBS[2..]
/// in the root group; `OTHER_TENANT` has mg-foreign. The reader may read the root group (so
/// every group), the writer only mg-b.
fn group_world() -> SimConfig {
    use azure_sim::{Access, ManagementGroupSeed, management_group_access_key};
    let mut config = world();
    let tenant = &mut config.tenants[0];
    tenant.management_groups = vec![
        ManagementGroupSeed::new(MG_B, "Group B")
            .under(MG_A)
            .with_subscriptions([SUBS[1]]),
        ManagementGroupSeed::new(MG_A, "Group A").with_subscriptions([SUBS[0]]),
    ];
    for principal in &mut tenant.principals {
        let grant = match principal.client_id.as_str() {
            READER => management_group_access_key(TENANT),
            WRITER => management_group_access_key(MG_B),
            _ => continue,
        };
        principal.access.insert(grant, Access::Read);
    }
    config.tenants[1].management_groups = vec![ManagementGroupSeed::new(MG_FOREIGN, "Foreign")];
    config
}

fn descendants_url(sim: &azure_sim::SimHandle, group: &str, query: &str) -> String {
    format!(
        "{}providers/Microsoft.Management/managementGroups/{group}/descendants?{query}",
        sim.url()
    )
}

async fn reader_token(sim: &azure_sim::SimHandle) -> String {
    token(sim, TENANT, READER, READER_SECRET).await
}

/// Follows `nextLink` to the end: every item, and the number of pages.
async fn all_descendants(
    client: &reqwest::Client,
    token: &str,
    url: String,
) -> (Vec<Value>, usize) {
    let (mut url, mut items, mut pages) = (url, Vec::new(), 0);
    loop {
        let (status, _, body) = send(client.get(&url).bearer_auth(token)).await;
        assert_eq!(status, 200, "{url}: {body}");
        assert!(
            body.get("nextLink").is_some(),
            "nextLink is always present: {body}"
        );
        pages += 1;
        items.extend(body["value"].as_array().expect("value").iter().cloned());
        match body["nextLink"].as_str() {
            Some(next) => url = next.to_owned(),
            None => break,
        }
        assert!(pages < 50, "paging does not end");
    }
    (items, pages)
}

/// `name<parent name` for each item, after checking its id and type agree with each other.
fn summary(items: &[Value]) -> Vec<String> {
    let prefix = "/providers/Microsoft.Management/managementGroups/";
    items
        .iter()
        .map(|item| {
            let name = item["name"].as_str().expect("name");
            let expected_id = match item["type"].as_str() {
                Some(GROUP_TYPE) => format!("{prefix}{name}"),
                Some(GROUP_SUB_TYPE) => format!("/subscriptions/{name}"),
                other => panic!("unexpected type {other:?}"),
            };
            assert_eq!(item["id"], expected_id);
            let parent = item["properties"]["parent"]["id"]
                .as_str()
                .and_then(|p| p.strip_prefix(prefix))
                .expect("parent is a management group id");
            format!("{name}<{parent}")
        })
        .collect()
}

#[tokio::test]
async fn descendants_list_every_depth_with_their_parents() {
    let sim = start(group_world()).await;
    let client = http(&sim);
    let token = reader_token(&sim).await;
    // Disabled and deleted subscriptions are still descendants.
    sim.state()
        .set_subscription_state(SUBS[1], SubscriptionState::Disabled)
        .expect("known");
    sim.state()
        .set_subscription_state(SUBS[3], SubscriptionState::Deleted)
        .expect("known");
    sim.state().reset_requests();

    let (status, headers, body) = send(
        client
            .get(descendants_url(
                &sim,
                TENANT,
                "api-version=2023-04-01&$top=100",
            ))
            .bearer_auth(&token),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(header(&headers, "x-ms-ratelimit-remaining-tenant-reads").is_some());
    assert!(body["nextLink"].is_null());
    let items = body["value"].as_array().expect("value");
    assert_eq!(
        summary(items),
        [
            format!("{MG_A}<{TENANT}"),
            format!("{}<{TENANT}", SUBS[2]),
            format!("{}<{TENANT}", SUBS[3]),
            format!("{}<{TENANT}", SUBS[4]),
            format!("{MG_B}<{MG_A}"),
            format!("{}<{MG_A}", SUBS[0]),
            format!("{}<{MG_B}", SUBS[1]),
        ]
    );
    // SUBS[1] sits two groups below the root.
    let deep = items
        .iter()
        .find(|i| i["name"] == SUBS[1])
        .expect("nested subscription listed");
    assert_eq!(deep["type"], GROUP_SUB_TYPE);
    assert_eq!(
        deep["properties"]["displayName"],
        format!("Subscription {}", SUBS[1])
    );
    let group_b = items.iter().find(|i| i["name"] == MG_B).expect("mg-b");
    assert_eq!(group_b["properties"]["displayName"], "Group B");

    // Below mg-a: mg-b and both nested subscriptions, nothing from the root. Every version
    // answers the same; ids are matched case-insensitively.
    for version in ["2020-05-01", "2021-04-01", "2023-04-01"] {
        let (status, _, body) = send(
            client
                .get(descendants_url(
                    &sim,
                    "MG-A",
                    &format!("api-version={version}&$top=10"),
                ))
                .bearer_auth(&token),
        )
        .await;
        assert_eq!(status, 200, "{version}: {body}");
        assert_eq!(
            summary(body["value"].as_array().expect("value")),
            [
                format!("{MG_B}<{MG_A}"),
                format!("{}<{MG_A}", SUBS[0]),
                format!("{}<{MG_B}", SUBS[1]),
            ],
            "{version}"
        );
    }
    let (status, _, body) = send(
        client
            .get(descendants_url(&sim, MG_B, "api-version=2023-04-01"))
            .bearer_auth(&token),
    )
    .await;
    assert_eq!(
        (status, summary(body["value"].as_array().expect("value"))),
        (200, vec![format!("{}<{MG_B}", SUBS[1])])
    );

    // api-version: missing and unknown, as on the other routes.
    let (status, _, body) = send(
        client
            .get(descendants_url(&sim, MG_A, ""))
            .bearer_auth(&token),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("MissingApiVersionParameter"))
    );
    let (status, _, body) = send(
        client
            .get(descendants_url(
                &sim,
                MG_A,
                "api-version=2018-03-01-preview",
            ))
            .bearer_auth(&token),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("InvalidApiVersionParameter"))
    );
    assert_eq!(
        body["error"]["message"],
        "The api-version '2018-03-01-preview' is invalid. The supported versions are '2023-04-01,2021-04-01,2020-05-01'."
    );
    let (status, _, _) = send(
        client
            .delete(descendants_url(&sim, MG_A, "api-version=2023-04-01"))
            .bearer_auth(&token),
    )
    .await;
    assert_eq!(status, 405);

    let counts = sim.state().requests();
    assert_eq!(
        counts.count("GET", RouteKind::ManagementGroupDescendants, None),
        7
    );
    assert_eq!(counts.total, 8);
}

#[tokio::test]
async fn descendants_page_with_top_and_next_link() {
    let sim = start(group_world()).await;
    let client = http(&sim);
    let token = reader_token(&sim).await;
    let (everything, pages) = all_descendants(
        &client,
        &token,
        descendants_url(&sim, TENANT, "api-version=2023-04-01&$top=100"),
    )
    .await;
    assert_eq!((everything.len(), pages), (7, 1));

    // $top=3: 3 + 3 + 1, and the pages add up to the whole list.
    let first_url = descendants_url(&sim, TENANT, "api-version=2023-04-01&$top=3");
    let (_, _, first) = send(client.get(&first_url).bearer_auth(&token)).await;
    assert_eq!(first["value"].as_array().map(Vec::len), Some(3));
    let next = reqwest::Url::parse(first["nextLink"].as_str().expect("a nextLink")).expect("URL");
    assert_eq!(
        next.path(),
        format!("/providers/Microsoft.Management/managementGroups/{TENANT}/descendants")
    );
    let query: Vec<(String, String)> = next.query_pairs().into_owned().collect();
    assert!(query.contains(&("api-version".into(), "2023-04-01".into())));
    let token_value = query
        .iter()
        .find(|(k, _)| k == "$skiptoken")
        .map(|(_, v)| v.clone())
        .expect("$skiptoken in nextLink");
    assert!(
        token_value.parse::<u64>().is_err(),
        "the skip token is opaque, not an offset: {token_value}"
    );
    let (paged, pages) = all_descendants(&client, &token, first_url).await;
    assert_eq!((paged.clone(), pages), (everything.clone(), 3));

    // Without $top, the configured page size (2 by default) → 4 pages.
    let (paged, pages) = all_descendants(
        &client,
        &token,
        descendants_url(&sim, TENANT, "api-version=2020-05-01"),
    )
    .await;
    assert_eq!((paged, pages), (everything.clone(), 4));

    // Tokens belong to their group; $top must be a positive integer.
    let foreign_token = descendants_url(
        &sim,
        MG_A,
        &format!("api-version=2023-04-01&$skiptoken={token_value}"),
    );
    for url in [
        foreign_token,
        descendants_url(
            &sim,
            TENANT,
            "api-version=2023-04-01&$skiptoken=not-a-token",
        ),
        descendants_url(&sim, TENANT, "api-version=2023-04-01&$top=0"),
        descendants_url(&sim, TENANT, "api-version=2023-04-01&$top=many"),
    ] {
        let (status, _, body) = send(client.get(&url).bearer_auth(&token)).await;
        assert_eq!(status, 400, "{url}: {body}");
        assert!(body["error"]["code"].is_string());
    }

    // A bigger configured page size.
    let sim = start(SimConfig {
        descendant_page_size: 5,
        ..group_world()
    })
    .await;
    let client = http(&sim);
    let token = reader_token(&sim).await;
    let (paged, pages) = all_descendants(
        &client,
        &token,
        descendants_url(&sim, TENANT, "api-version=2023-04-01"),
    )
    .await;
    assert_eq!((paged.len(), pages), (7, 2));
}

#[tokio::test]
async fn unreadable_management_group_is_403_authorization_failed() {
    let sim = start(group_world()).await;
    let client = http(&sim);
    let token = writer_token(&sim).await;
    let get = |group: &str| {
        send(
            client
                .get(descendants_url(&sim, group, "api-version=2023-04-01"))
                .bearer_auth(&token),
        )
    };
    // The writer reads mg-b; neither its parent nor the root, and "*": readWrite on
    // subscriptions does not reach groups.
    assert_eq!(get(MG_B).await.0, 200);
    for group in [MG_A, TENANT] {
        let (status, _, body) = get(group).await;
        assert_eq!(status, 403, "{group}: {body}");
        assert_eq!(
            body,
            json!({"error": {
                "code": "AuthorizationFailed",
                "message": format!(
                    "The client '{WRITER_OID}' with object id '{WRITER_OID}' does not have authorization to perform action 'Microsoft.Management/managementGroups/descendants/read' over scope '/providers/Microsoft.Management/managementGroups/{group}' or the scope is invalid. If access was recently granted, please refresh your credentials."
                ),
            }})
        );
    }
    // Granted at runtime over the control API, mg-a becomes readable; the root still is not.
    let (status, _, _) = send(
        client
            .put(format!(
                "{}_sim/access/managementGroup:{MG_A}/{WRITER}",
                sim.url()
            ))
            .json(&json!({"access": "read"})),
    )
    .await;
    assert_eq!(status, 204);
    assert_eq!(get(MG_A).await.0, 200);
    assert_eq!(get(TENANT).await.0, 403);
    assert_eq!(
        sim.state()
            .requests()
            .matching(|c| c.route == RouteKind::ManagementGroupDescendants && c.status == 403),
        3
    );
}

#[tokio::test]
async fn unknown_management_group_is_404_not_found() {
    let sim = start(group_world()).await;
    let client = http(&sim);
    let reader = reader_token(&sim).await;
    let writer = writer_token(&sim).await;
    // Unknown ids, and groups of another tenant, whoever asks.
    for (token, group) in [
        (&reader, "no-such-group"),
        (&writer, "no-such-group"),
        (&reader, MG_FOREIGN),
        (&reader, OTHER_TENANT),
    ] {
        let (status, headers, body) = send(
            client
                .get(descendants_url(&sim, group, "api-version=2023-04-01"))
                .bearer_auth(token),
        )
        .await;
        assert_eq!(status, 404, "{group}: {body}");
        assert_eq!(
            body,
            json!({"error": {
                "code": "NotFound",
                "message": format!("'/providers/Microsoft.Management/managementGroups/{group}' not found"),
            }})
        );
        assert!(header(&headers, "x-ms-correlation-request-id").is_some());
    }
}

#[tokio::test]
async fn get_descendants_replays_the_published_example() {
    use azure_sim::{
        Access, ManagementGroupSeed, PrincipalSeed, SubscriptionSeed, management_group_access_key,
    };
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/arm/2023-04-01/GetDescendants.json"
    );
    let example: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("JSON");
    let group = example["parameters"]["groupId"].as_str().expect("groupId");
    let api_version = example["parameters"]["api-version"]
        .as_str()
        .expect("api-version");
    let expected = &example["responses"]["200"]["body"];
    let items = expected["value"].as_array().expect("value");

    // The example's own shape: every key and JSON type the simulator must reproduce.
    assert!(expected.get("nextLink").is_some_and(Value::is_null));
    let types: Vec<&str> = items.iter().filter_map(|i| i["type"].as_str()).collect();
    assert_eq!(types, [GROUP_TYPE, GROUP_SUB_TYPE]);
    for item in items {
        let keys: Vec<&String> = item.as_object().expect("object").keys().collect();
        assert_eq!(keys.len(), 4, "{item}");
        for key in ["id", "type", "name"] {
            assert!(item[key].is_string(), "{key} in {item}");
        }
        assert!(item["properties"]["displayName"].is_string());
        assert!(item["properties"]["parent"]["id"].is_string());
    }

    // A world holding exactly what the example lists, below the example's group (a root).
    let name_of_parent = |item: &Value| {
        item["properties"]["parent"]["id"]
            .as_str()
            .and_then(|p| p.rsplit('/').next())
            .expect("parent")
            .to_owned()
    };
    let display = |item: &Value| {
        item["properties"]["displayName"]
            .as_str()
            .expect("displayName")
            .to_owned()
    };
    let mut groups: Vec<ManagementGroupSeed> = items
        .iter()
        .filter(|i| i["type"] == GROUP_TYPE)
        .map(|i| {
            ManagementGroupSeed::new(i["name"].as_str().expect("name"), display(i))
                .under(name_of_parent(i))
        })
        .collect();
    let mut subscriptions = Vec::new();
    for item in items.iter().filter(|i| i["type"] == GROUP_SUB_TYPE) {
        let mut seed = SubscriptionSeed::new(item["name"].as_str().expect("name"));
        seed.display_name = display(item);
        if let Some(holder) = groups.iter_mut().find(|g| g.id == name_of_parent(item)) {
            holder.subscriptions.push(seed.id.clone());
        }
        subscriptions.push(seed);
    }
    let mut config = SimConfig::single_tenant(
        group,
        PrincipalSeed {
            object_id: Some(READER_OID.into()),
            ..PrincipalSeed::with_secret(READER, READER_SECRET, Access::Read)
        },
        subscriptions,
    );
    config.tenants[0].management_groups = groups;
    config.tenants[0].principals[0]
        .access
        .insert(management_group_access_key(group), Access::Read);
    let sim = start(config).await;
    let token = token(&sim, group, READER, READER_SECRET).await;
    let (status, _, body) = send(
        http(&sim)
            .get(descendants_url(
                &sim,
                group,
                &format!("api-version={api_version}"),
            ))
            .bearer_auth(&token),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        &body, expected,
        "the simulator answers the published example exactly"
    );
}

#[tokio::test]
async fn control_api_moves_subscriptions_and_groups() {
    let sim = start(group_world()).await;
    let client = http(&sim);
    let token = reader_token(&sim).await;
    let list = |group: &str| {
        let url = descendants_url(&sim, group, "api-version=2023-04-01&$top=50");
        let (client, token) = (client.clone(), token.clone());
        async move { summary(&all_descendants(&client, &token, url).await.0) }
    };
    let control = |path: String, body: Value| {
        send(client.put(format!("{}_sim/{path}", sim.url())).json(&body))
    };

    // A new group below mg-b (tenant taken from the parent), taking SUBS[2] out of the root.
    let (status, _, body) = control(
        "management-groups/mg-c".into(),
        json!({"displayName": "Group C", "parent": MG_B, "subscriptions": [SUBS[2]]}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        list(MG_A).await,
        [
            format!("{MG_B}<{MG_A}"),
            format!("{}<{MG_A}", SUBS[0]),
            format!("mg-c<{MG_B}"),
            format!("{}<{MG_B}", SUBS[1]),
            format!("{}<mg-c", SUBS[2]),
        ]
    );
    let (status, _, seed) =
        send(client.get(format!("{}_sim/management-groups/mg-c", sim.url()))).await;
    assert_eq!(
        (status, seed),
        (
            200,
            json!({"id": "mg-c", "displayName": "Group C", "parent": MG_B, "subscriptions": [SUBS[2]]})
        )
    );

    // Replaced without subscriptions: SUBS[2] goes back to the root group.
    let (status, _, _) = control(
        "management-groups/mg-c".into(),
        json!({"displayName": "Group C2", "parent": MG_A}),
    )
    .await;
    assert_eq!(status, 204);
    assert!(
        list(TENANT)
            .await
            .contains(&format!("{}<{TENANT}", SUBS[2]))
    );
    assert!(list(MG_A).await.contains(&format!("mg-c<{MG_A}")));

    // Moving, tagging, renaming and disabling a subscription in one update.
    let (status, _, body) = control(
        format!("subscriptions/{}", SUBS[3]),
        json!({"managementGroup": "mg-c", "tags": {"team": "apps"}, "state": "Disabled", "displayName": "moved"}),
    )
    .await;
    assert_eq!(status, 204, "{body}");
    let (_, _, page) = send(
        client
            .get(descendants_url(&sim, "mg-c", "api-version=2023-04-01"))
            .bearer_auth(&token),
    )
    .await;
    assert_eq!(page["value"][0]["name"], SUBS[3]);
    assert_eq!(page["value"][0]["properties"]["displayName"], "moved");
    let mut listed = Vec::new();
    let mut url = format!("{}subscriptions?api-version=2022-12-01", sim.url());
    loop {
        let (_, _, body) = send(client.get(&url).bearer_auth(&token)).await;
        listed.extend(body["value"].as_array().expect("value").iter().cloned());
        match body["nextLink"].as_str() {
            Some(next) => url = next.to_owned(),
            None => break,
        }
    }
    let moved = listed
        .iter()
        .find(|s| s["subscriptionId"] == SUBS[3])
        .expect("still listed");
    assert_eq!(
        (&moved["tags"], &moved["state"], &moved["displayName"]),
        (
            &json!({"team": "apps"}),
            &json!("Disabled"),
            &json!("moved")
        )
    );

    // Back to the root by naming the tenant; refusals change nothing.
    let (status, _, _) = control(
        format!("subscriptions/{}", SUBS[3]),
        json!({"managementGroup": TENANT}),
    )
    .await;
    assert_eq!(status, 204);
    assert!(
        list(TENANT)
            .await
            .contains(&format!("{}<{TENANT}", SUBS[3]))
    );
    let before = list(TENANT).await;
    for (path, body, expected) in [
        (
            format!("subscriptions/{}", SUBS[3]),
            json!({"managementGroup": MG_FOREIGN, "tags": {}}),
            404,
        ),
        (
            format!("subscriptions/{}", SUBS[3]),
            json!({"managementGroup": MG_A, "colour": "red"}),
            400,
        ),
        (
            format!("management-groups/{MG_A}"),
            json!({"parent": "mg-c"}),
            400,
        ),
        (
            "management-groups/orphan".into(),
            json!({"displayName": "no tenant"}),
            400,
        ),
        (
            format!("management-groups/{TENANT}"),
            json!({"displayName": "root"}),
            400,
        ),
        (
            "management-groups/mg-d".into(),
            json!({"parent": MG_A, "subscriptions": [FOREIGN_SUB]}),
            400,
        ),
        (
            "management-groups/mg-d".into(),
            json!({"parent": MG_A, "subscriptions": [UNKNOWN_SUB]}),
            404,
        ),
    ] {
        let (status, _, answer) = control(path.clone(), body).await;
        assert_eq!(status, expected, "{path}: {answer}");
    }
    assert_eq!(list(TENANT).await, before);
    assert_eq!(sim.state().management_group("mg-d"), None);
    let tags = listed_tags(&sim, &client, &token, SUBS[3]).await;
    assert_eq!(
        tags,
        json!({"team": "apps"}),
        "the refused update left the tags alone"
    );
}

async fn listed_tags(
    sim: &azure_sim::SimHandle,
    client: &reqwest::Client,
    token: &str,
    sub: &str,
) -> Value {
    let mut url = format!("{}subscriptions?api-version=2022-12-01", sim.url());
    loop {
        let (_, _, body) = send(client.get(&url).bearer_auth(token)).await;
        if let Some(found) = body["value"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|s| s["subscriptionId"] == sub)
        {
            return found.get("tags").cloned().unwrap_or(Value::Null);
        }
        url = body["nextLink"]
            .as_str()
            .expect("subscription listed")
            .to_owned();
    }
}

#[tokio::test]
async fn faults_and_counters_cover_management_group_descendants() {
    let sim = start(group_world()).await;
    let client = http(&sim);
    let token = reader_token(&sim).await;
    let (status, _, _) = send(
        client
            .put(format!("{}_sim/faults", sim.url()))
            .json(&json!({
                "rules": [{
                    "route": "managementGroupDescendants",
                    "storm": {"requests": 1, "retryAfterSecs": 2}
                }]
            })),
    )
    .await;
    assert_eq!(status, 204);
    sim.state().reset_requests();
    let get = || {
        send(
            client
                .get(descendants_url(&sim, MG_A, "api-version=2023-04-01"))
                .bearer_auth(&token),
        )
    };
    let (status, headers, body) = get().await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (429, Some("TooManyRequests"))
    );
    assert_eq!(header(&headers, "retry-after"), Some("2"));
    // The storm is scoped to the route: listing subscriptions is unaffected.
    let (status, _, _) = send(
        client
            .get(format!("{}subscriptions?api-version=2022-12-01", sim.url()))
            .bearer_auth(&token),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(get().await.0, 200, "the storm is over");
    let counts = sim.state().requests();
    let descendants = |status: u16| {
        counts.matching(|c| {
            c.route == RouteKind::ManagementGroupDescendants
                && c.method == "GET"
                && c.subscription.is_none()
                && c.status == status
        })
    };
    assert_eq!((descendants(429), descendants(200)), (1, 1));
    assert_eq!(counts.count("GET", RouteKind::Subscriptions, None), 1);
    let (_, _, snapshot) = send(client.get(format!("{}_sim/requests", sim.url()))).await;
    assert!(
        snapshot["entries"]
            .as_array()
            .is_some_and(|e| e.iter().any(|c| c["route"] == "managementGroupDescendants"))
    );
}

#[tokio::test]
async fn demo_world_has_a_management_group_hierarchy() {
    use azure_sim::*;
    let sim = start(SimConfig::demo()).await;
    let client = http(&sim);
    let token = token(&sim, DEMO_TENANT_ID, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET).await;
    let (items, _) = all_descendants(
        &client,
        &token,
        descendants_url(&sim, DEMO_TENANT_ID, "api-version=2023-04-01"),
    )
    .await;
    let items = summary(&items);
    for expected in [
        format!("{DEMO_MG_PLATFORM}<{DEMO_TENANT_ID}"),
        format!("{DEMO_MG_APPS}<{DEMO_MG_PLATFORM}"),
        format!("{DEMO_SUB_COMPLIANT}<{DEMO_MG_PLATFORM}"),
        format!("{DEMO_SUB_CONTACT_MISSING}<{DEMO_MG_PLATFORM}"),
        format!("{DEMO_SUB_PORTAL_EDITED}<{DEMO_MG_APPS}"),
        // Descendants are not filtered by the caller's roles on subscriptions, nor by state.
        format!("{DEMO_SUB_NO_ACCESS}<{DEMO_TENANT_ID}"),
        format!("{DEMO_SUB_DISABLED}<{DEMO_TENANT_ID}"),
    ] {
        assert!(
            items.contains(&expected),
            "{expected} missing from {items:#?}"
        );
    }
    assert_eq!(items.len(), 11, "2 groups and 9 subscriptions");
    let (_, _, apps) = send(
        client
            .get(descendants_url(
                &sim,
                DEMO_MG_APPS,
                "api-version=2023-04-01",
            ))
            .bearer_auth(&token),
    )
    .await;
    assert_eq!(
        summary(apps["value"].as_array().expect("value")),
        [format!("{DEMO_SUB_PORTAL_EDITED}<{DEMO_MG_APPS}")]
    );
}

// ---------------------------------------------------------------------------------------------
// Activity Log

/// An RFC 3339 time `offset` from now (negative: in the past).
fn rfc3339_from_now(offset: azure_core::time::Duration) -> String {
    azure_core::time::to_rfc3339(&(azure_core::time::OffsetDateTime::now_utc() + offset))
}

/// `eventTimestamp ge <now - 10 min> and eventTimestamp le <now + 10 min>`, then `extra`.
fn recent(extra: &str) -> String {
    let window = azure_core::time::Duration::minutes(10);
    format!(
        "eventTimestamp ge '{}' and eventTimestamp le '{}'{extra}",
        rfc3339_from_now(-window),
        rfc3339_from_now(window)
    )
}

/// Every event from `url` on, following `nextLink`; and the number of pages.
async fn all_events(client: &reqwest::Client, token: &str, url: String) -> (Vec<Value>, usize) {
    let mut url = Some(url);
    let mut events = Vec::new();
    let mut pages = 0;
    while let Some(next) = url.take() {
        let (status, _, body) = send(client.get(&next).bearer_auth(token)).await;
        assert_eq!(status, 200, "{next}: {body}");
        pages += 1;
        events.extend(body["value"].as_array().cloned().expect("value array"));
        url = body["nextLink"].as_str().map(str::to_owned);
        assert!(pages < 50, "runaway paging");
    }
    (events, pages)
}

fn event_summary(event: &Value) -> (String, String, String, String) {
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    (
        text(&event["caller"]),
        text(&event["operationName"]["value"]),
        text(&event["status"]["value"]),
        text(&event["eventName"]["value"]),
    )
}

#[tokio::test]
async fn activity_log_names_who_wrote_the_contact_newest_first() {
    let sim = start(world()).await;
    let client = http(&sim);
    let token = writer_token(&sim).await;
    let sub = SUBS[0];
    let correlation = "7f2d43c5-0000-4000-8000-00000000c0de";

    let (status, _, _) = send(
        client
            .put(contact_url(&sim, sub))
            .bearer_auth(&token)
            .header("x-ms-correlation-request-id", correlation)
            .json(&json!({"properties": sample_properties()})),
    )
    .await;
    assert_eq!(status, 201);
    // A person edits the contact in the portal, then another one in Rust without a name.
    let control = format!(
        "{}_sim/contacts/{sub}?caller=ops-admin%40contoso.com",
        sim.url()
    );
    let (status, _, _) = send(
        client
            .put(&control)
            .json(&json!({"emails": "ops@contoso.com", "isEnabled": true})),
    )
    .await;
    assert_eq!(status, 200);
    // Reads and refused writes are not writes.
    send(client.get(contact_url(&sim, sub)).bearer_auth(&token)).await;
    let reader = token_for(&sim, TENANT, READER, READER_SECRET).await;
    let (status, _, _) = send(
        client
            .put(contact_url(&sim, sub))
            .bearer_auth(&reader)
            .json(&json!({"properties": sample_properties()})),
    )
    .await;
    assert_eq!(status, 403);

    let filter = recent(&format!(" and resourceUri eq '{}'", contact_id(sub)));
    let (events, pages) = all_events(
        &client,
        &token,
        activity_log_url(&sim, sub, Some(&filter), None),
    )
    .await;
    assert_eq!(pages, 2, "two events per page by default");
    let write = "Microsoft.Security/securityContacts/write";
    let row = |caller: &str, status: &str, name: &str| {
        (
            caller.to_owned(),
            write.to_owned(),
            status.to_owned(),
            name.to_owned(),
        )
    };
    assert_eq!(
        events.iter().map(event_summary).collect::<Vec<_>>(),
        [
            row("ops-admin@contoso.com", "Succeeded", "EndRequest"),
            row("ops-admin@contoso.com", "Started", "BeginRequest"),
            row(WRITER_OID, "Succeeded", "EndRequest"),
            row(WRITER_OID, "Started", "BeginRequest"),
        ]
    );
    let times: Vec<azure_core::time::OffsetDateTime> = events
        .iter()
        .map(|e| {
            azure_core::time::parse_rfc3339(e["eventTimestamp"].as_str().expect("timestamp"))
                .expect("RFC 3339")
        })
        .collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "{times:?}");
    let arm_write = &events[2];
    assert_eq!(arm_write["correlationId"], correlation);
    assert_eq!(events[3]["correlationId"], correlation);
    assert_eq!(arm_write["subStatus"]["value"], "Created");
    assert_eq!(events[0]["subStatus"]["value"], "OK");
    assert_eq!(events[1]["subStatus"]["value"], "");
    assert_eq!(arm_write["resourceId"], contact_id(sub));
    assert_eq!(arm_write["authorization"]["action"], write);
    assert_eq!(arm_write["category"]["value"], "Administrative");
    assert_eq!(arm_write["level"], "Informational");
    assert_eq!(arm_write["channels"], "Operation");
    assert_eq!(
        arm_write["resourceProviderName"]["value"],
        "Microsoft.Security"
    );
    assert_eq!(arm_write["subscriptionId"], sub);
    assert_eq!(arm_write["tenantId"], TENANT);
    assert_eq!(arm_write["claims"]["appid"], WRITER);
    assert_eq!(
        arm_write["claims"]["http://schemas.microsoft.com/identity/claims/objectidentifier"],
        WRITER_OID
    );
    assert_eq!(
        events[0]["claims"]["http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn"],
        "ops-admin@contoso.com"
    );

    // The Rust view, oldest first; a nameless portal edit and an ARM delete join it.
    sim.state()
        .set_contact(sub, json!({"emails": "third@contoso.com"}))
        .expect("portal edit");
    let (status, _, _) = send(client.delete(contact_url(&sim, sub)).bearer_auth(&token)).await;
    assert_eq!(status, 200);
    let writes = sim.state().contact_writes(sub).expect("known");
    let seen: Vec<(&str, &str, u16)> = writes
        .iter()
        .map(|w| (w.caller.as_str(), w.operation.as_str(), w.status))
        .collect();
    assert_eq!(
        seen,
        [
            (WRITER_OID, write, 201),
            ("ops-admin@contoso.com", write, 200),
            (azure_sim::DEFAULT_PORTAL_CALLER, write, 200),
            (
                WRITER_OID,
                "Microsoft.Security/securityContacts/delete",
                200
            ),
        ]
    );
    assert!(writes.windows(2).all(|w| w[0].at <= w[1].at));
    assert_eq!(writes[0].correlation_id, correlation);
    assert!(
        sim.state()
            .contact_writes(SUBS[1])
            .expect("known")
            .is_empty()
    );
    assert!(sim.state().contact_writes(UNKNOWN_SUB).is_err());
    let (_, _, latest) = send(
        client
            .get(activity_log_url(
                &sim,
                sub,
                Some(&recent("")),
                Some("caller,operationName,status"),
            ))
            .bearer_auth(&token),
    )
    .await;
    assert_eq!(
        latest["value"][0],
        json!({
            "caller": WRITER_OID,
            "operationName": {
                "value": "Microsoft.Security/securityContacts/delete",
                "localizedValue": "Delete security contact"
            },
            "status": {"value": "Succeeded", "localizedValue": "Succeeded"}
        })
    );
    // Counted under their own route kind.
    assert!(
        sim.state()
            .requests()
            .count("GET", RouteKind::ActivityLog, Some(sub))
            >= 3
    );
}

#[tokio::test]
async fn activity_log_requires_a_time_filter() {
    let sim = start(world()).await;
    let client = http(&sim);
    let token = writer_token(&sim).await;
    let sub = SUBS[0];
    let later = rfc3339_from_now(azure_core::time::Duration::minutes(1));
    for filter in [
        None,
        Some(String::new()),
        Some(format!("eventTimestamp le '{later}'")),
        Some(format!("resourceUri eq '{}'", contact_id(sub))),
        Some("eventTimestamp ge 'last tuesday'".to_owned()),
        Some(recent(" and caller eq 'someone'")),
        Some(recent(" or resourceGroupName eq 'rg'")),
    ] {
        let (status, _, body) = send(
            client
                .get(activity_log_url(&sim, sub, filter.as_deref(), None))
                .bearer_auth(&token),
        )
        .await;
        assert_eq!(status, 400, "{filter:?}: {body}");
        assert_eq!(
            body,
            json!({"code": "BadRequest", "message": "$filter searching parameters invalid"}),
            "{filter:?}"
        );
    }
    // Only the start is required.
    let start_only = format!(
        "eventTimestamp ge '{}'",
        rfc3339_from_now(-azure_core::time::Duration::hours(1))
    );
    let (status, _, body) = send(
        client
            .get(activity_log_url(&sim, sub, Some(&start_only), None))
            .bearer_auth(&token),
    )
    .await;
    assert_eq!(
        (status, body),
        (200, json!({"value": [], "nextLink": null}))
    );
    // api-version 2015-04-01 only.
    let url = activity_log_url(&sim, sub, Some(&start_only), None)
        .replace("api-version=2015-04-01", "api-version=2023-01-01");
    let (status, _, body) = send(client.get(url).bearer_auth(&token)).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "InvalidApiVersionParameter");
}

#[tokio::test]
async fn activity_log_needs_a_read_role_on_the_subscription() {
    let sim = start(world()).await;
    let client = http(&sim);
    let token = writer_token(&sim).await;
    let (status, _, body) = send(
        client
            .get(activity_log_url(&sim, HIDDEN_SUB, Some(&recent("")), None))
            .bearer_auth(&token),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "AuthorizationFailed");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("'Microsoft.Insights/eventtypes/values/read'")
            && message.contains(WRITER_OID),
        "{message}"
    );
    // Read is enough.
    sim.state()
        .set_contact_as(
            SUBS[2],
            json!({"emails": "x@contoso.com"}),
            Some("someone@contoso.com"),
        )
        .expect("portal edit");
    let reader = token_for(&sim, TENANT, READER, READER_SECRET).await;
    let (status, _, body) = send(
        client
            .get(activity_log_url(&sim, SUBS[2], Some(&recent("")), None))
            .bearer_auth(&reader),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["value"][0]["caller"], "someone@contoso.com");
    // Another tenant's subscription, an unknown one, and a Graph token.
    let (status, _, body) = send(
        client
            .get(activity_log_url(&sim, FOREIGN_SUB, Some(&recent("")), None))
            .bearer_auth(&token),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("InvalidAuthenticationTokenTenant"))
    );
    let (status, _, _) = send(
        client
            .get(activity_log_url(&sim, UNKNOWN_SUB, Some(&recent("")), None))
            .bearer_auth(&token),
    )
    .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn activity_log_filters_by_resource_and_correlation() {
    let sim = start(world()).await;
    let client = http(&sim);
    let token = writer_token(&sim).await;
    for sub in [SUBS[0], SUBS[1]] {
        let (status, _, _) = send(
            client
                .put(contact_url(&sim, sub))
                .bearer_auth(&token)
                .json(&json!({"properties": sample_properties()})),
        )
        .await;
        assert_eq!(status, 201);
    }
    let count = |filter: String| {
        let client = client.clone();
        let token = token.clone();
        let url = activity_log_url(&sim, SUBS[0], Some(&filter), None);
        async move { all_events(&client, &token, url).await.0.len() }
    };
    assert_eq!(
        count(recent("")).await,
        2,
        "only this subscription's events"
    );
    // The resource id compares case-insensitively; another resource matches nothing.
    let shouty = contact_id(SUBS[0]).to_uppercase();
    assert_eq!(
        count(recent(&format!(" and resourceUri eq '{shouty}'"))).await,
        2
    );
    let storage = format!(
        "/subscriptions/{}/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/logs",
        SUBS[0]
    );
    assert_eq!(
        count(recent(&format!(" and resourceUri eq '{storage}'"))).await,
        0
    );
    assert_eq!(
        count(recent(&format!(
            " and resourceUri eq '{}'",
            contact_id(SUBS[1])
        )))
        .await,
        0
    );
    assert_eq!(count(recent(" and resourceGroupName eq 'rg'")).await, 0);
    assert_eq!(
        count(recent(" and resourceProvider eq 'microsoft.security'")).await,
        2
    );
    let correlation = sim.state().contact_writes(SUBS[0]).expect("known")[0]
        .correlation_id
        .clone();
    assert_eq!(
        count(recent(&format!(" and correlationId eq '{correlation}'"))).await,
        2
    );
    assert_eq!(count(recent(" and correlationId eq 'nope'")).await, 0);
    // A window that ended before the writes.
    let old = format!(
        "eventTimestamp ge '{}' and eventTimestamp le '{}'",
        rfc3339_from_now(-azure_core::time::Duration::hours(2)),
        rfc3339_from_now(-azure_core::time::Duration::hours(1))
    );
    assert_eq!(count(old).await, 0);
}

#[tokio::test]
async fn activity_log_pages_with_next_link_and_stable_tokens() {
    let sim = start(world()).await;
    let client = http(&sim);
    let token = writer_token(&sim).await;
    let sub = SUBS[0];
    for i in 0..3 {
        sim.state()
            .set_contact_as(
                sub,
                json!({"emails": format!("v{i}@contoso.com")}),
                Some(&format!("person{i}@contoso.com")),
            )
            .expect("portal edit");
    }
    let filter = recent("");
    let url = activity_log_url(&sim, sub, Some(&filter), None);
    let (status, _, first) = send(client.get(&url).bearer_auth(&token)).await;
    assert_eq!(status, 200);
    assert_eq!(first["value"].as_array().map(Vec::len), Some(2));
    let next = first["nextLink"].as_str().expect("nextLink").to_owned();
    let parsed = reqwest::Url::parse(&next).expect("url");
    assert!(
        parsed
            .query_pairs()
            .any(|(k, v)| k == "$filter" && v == filter.as_str()),
        "{next}"
    );
    assert!(parsed.query_pairs().any(|(k, _)| k == "$skiptoken"));
    // A write made while paging does not shift the pages still to come.
    sim.state()
        .set_contact_as(
            sub,
            json!({"emails": "late@contoso.com"}),
            Some("late@contoso.com"),
        )
        .expect("portal edit");
    let (rest, pages) = all_events(&client, &token, next).await;
    assert_eq!(pages, 2);
    let mut callers: Vec<String> = first["value"]
        .as_array()
        .expect("array")
        .iter()
        .chain(&rest)
        .map(|e| e["caller"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        callers,
        [
            "person2@contoso.com",
            "person2@contoso.com",
            "person1@contoso.com",
            "person1@contoso.com",
            "person0@contoso.com",
            "person0@contoso.com"
        ]
    );
    // A bigger page size; the late write is listed first now.
    let sim2 = start(SimConfig {
        activity_log_page_size: 5,
        ..world()
    })
    .await;
    for i in 0..3 {
        sim2.state()
            .set_contact(sub, json!({"emails": format!("v{i}@contoso.com")}))
            .expect("portal edit");
    }
    let token2 = writer_token(&sim2).await;
    let (events, pages) = all_events(
        &http(&sim2),
        &token2,
        activity_log_url(&sim2, sub, Some(&recent("")), None),
    )
    .await;
    assert_eq!((events.len(), pages), (6, 2));
    let (events, _) = all_events(&client, &token, url).await;
    callers = events
        .iter()
        .map(|e| e["caller"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(callers.len(), 8);
    assert_eq!(callers[0], "late@contoso.com");
    let ids: std::collections::HashSet<&str> = events
        .iter()
        .map(|e| e["eventDataId"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(ids.len(), 8);
    let (status, _, body) = send(
        client
            .get(format!(
                "{}&$skiptoken=zz",
                activity_log_url(&sim, sub, Some(&recent("")), None)
            ))
            .bearer_auth(&token),
    )
    .await;
    assert_eq!((status, body["code"].as_str()), (400, Some("BadRequest")));
}

// ---------------------------------------------------------------------------------------------
// Microsoft Graph: organization

fn graph_error(body: &Value) -> (&str, &str) {
    (
        body["error"]["code"].as_str().unwrap_or_default(),
        body["error"]["message"].as_str().unwrap_or_default(),
    )
}

#[tokio::test]
async fn graph_and_arm_tokens_are_not_interchangeable() {
    let sim = start(world()).await;
    let client = http(&sim);
    let graph = graph_token(&sim, TENANT, WRITER, WRITER_SECRET).await;
    let arm = writer_token(&sim).await;

    let (status, headers, body) = send(
        client
            .get(organization_url(&sim, Some(TENANT)))
            .bearer_auth(&graph),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["id"], TENANT);
    assert!(header(&headers, "request-id").is_some());

    // ARM refuses the Graph token...
    let (status, headers, body) =
        send(client.get(contact_url(&sim, SUBS[0])).bearer_auth(&graph)).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], "InvalidAuthenticationTokenAudience");
    assert_eq!(
        body["error"]["message"],
        "The access token has been obtained for wrong audience or resource 'https://graph.microsoft.com'. It should exactly match with one of the allowed audiences 'https://management.core.windows.net/','https://management.core.windows.net','https://management.azure.com/','https://management.azure.com'."
    );
    assert!(header(&headers, "www-authenticate").is_some_and(|h| h.contains("invalid_token")));
    let (status, _, _) = send(
        client
            .get(activity_log_url(&sim, SUBS[0], Some(&recent("")), None))
            .bearer_auth(&graph),
    )
    .await;
    assert_eq!(status, 401);

    // ...and Graph the ARM token, or none.
    let (status, headers, body) = send(
        client
            .get(organization_url(&sim, Some(TENANT)))
            .bearer_auth(&arm)
            .header("client-request-id", "3f0b2a9e-0000-4000-8000-000000000001"),
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(
        graph_error(&body),
        (
            "InvalidAuthenticationToken",
            "Access token validation failure. Invalid audience."
        )
    );
    assert_eq!(
        body["error"]["innerError"]["client-request-id"],
        "3f0b2a9e-0000-4000-8000-000000000001"
    );
    assert_eq!(
        header(&headers, "client-request-id"),
        Some("3f0b2a9e-0000-4000-8000-000000000001")
    );
    assert_eq!(
        body["error"]["innerError"]["request-id"].as_str(),
        header(&headers, "request-id")
    );
    let (status, _, body) = send(client.get(organization_url(&sim, None))).await;
    assert_eq!(
        (status, graph_error(&body)),
        (
            401,
            ("InvalidAuthenticationToken", "Access token is empty.")
        )
    );
    sim.state().expire_tokens();
    let (status, _, body) =
        send(client.get(organization_url(&sim, None)).bearer_auth(&graph)).await;
    assert_eq!(
        (status, graph_error(&body)),
        (
            401,
            (
                "InvalidAuthenticationToken",
                "Lifetime validation failed, the token is expired."
            )
        )
    );
    let requests = sim.state().requests();
    assert_eq!(requests.count("GET", RouteKind::GraphOrganization, None), 4);
}

#[tokio::test]
async fn graph_serves_the_tenant_organization() {
    let sim = start(world()).await;
    let client = http(&sim);
    let token = graph_token(&sim, TENANT, READER, READER_SECRET).await;

    let (status, headers, org) = send(
        client
            .get(organization_url(&sim, Some(&TENANT.to_uppercase())))
            .bearer_auth(&token),
    )
    .await;
    assert_eq!(status, 200);
    assert!(header(&headers, "content-type").is_some_and(|c| c.starts_with("application/json")));
    assert!(
        org["@odata.context"]
            .as_str()
            .is_some_and(|c| c.ends_with("$metadata#organization/$entity"))
    );
    assert_eq!(org["id"], TENANT);
    assert_eq!(org["displayName"], "Contoso");
    assert_eq!(
        org["technicalNotificationMails"],
        json!(["it-admin@contoso.com"])
    );
    assert_eq!(org["securityComplianceNotificationMails"], json!([]));
    assert_eq!(org["securityComplianceNotificationPhones"], json!([]));
    assert_eq!(org["marketingNotificationEmails"], json!([]));
    assert!(org["privacyProfile"].is_null());
    assert_eq!(org["verifiedDomains"][0]["isInitial"], true);

    let (status, _, list) =
        send(client.get(organization_url(&sim, None)).bearer_auth(&token)).await;
    assert_eq!(status, 200);
    assert!(
        list["@odata.context"]
            .as_str()
            .is_some_and(|c| c.ends_with("$metadata#organization"))
    );
    assert_eq!(list["value"].as_array().map(Vec::len), Some(1));
    assert_eq!(list["value"][0]["id"], TENANT);

    let (status, _, selected) = send(
        client
            .get(format!(
                "{}?$select=technicalNotificationMails,securityComplianceNotificationMails",
                organization_url(&sim, Some(TENANT))
            ))
            .bearer_auth(&token),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        selected.as_object().map(|o| o.len()),
        Some(3),
        "the two selected and @odata.context: {selected}"
    );

    // Another tenant's organization does not exist for this token.
    let (status, _, body) = send(
        client
            .get(organization_url(&sim, Some(OTHER_TENANT)))
            .bearer_auth(&token),
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(
        graph_error(&body),
        (
            "Request_ResourceNotFound",
            format!("Resource '{OTHER_TENANT}' does not exist or one of its queried reference-property objects are not present.").as_str()
        )
    );
    // The other tenant's own principal sees its own, default-named organization.
    let outsider = graph_token(&sim, OTHER_TENANT, OUTSIDER, OUTSIDER_SECRET).await;
    let (status, _, body) = send(
        client
            .get(organization_url(&sim, Some(OTHER_TENANT)))
            .bearer_auth(&outsider),
    )
    .await;
    assert_eq!(
        (status, body["displayName"].as_str()),
        (200, Some(OTHER_TENANT))
    );
    // Only GET on the collection; GET and PATCH on the entity.
    let (status, _, body) = send(
        client
            .patch(organization_url(&sim, None))
            .bearer_auth(&token)
            .json(&json!({})),
    )
    .await;
    assert_eq!((status, graph_error(&body).0), (405, "Request_BadRequest"));
}

#[tokio::test]
async fn graph_patch_updates_notification_contacts() {
    let sim = start(world()).await;
    let client = http(&sim);
    let token = graph_token(&sim, TENANT, WRITER, WRITER_SECRET).await;
    let url = organization_url(&sim, Some(TENANT));

    let (status, headers, body) = send(client.patch(&url).bearer_auth(&token).json(&json!({
        "securityComplianceNotificationMails": ["soc@contoso.com", "ciso@contoso.com"],
        "securityComplianceNotificationPhones": ["+1 555 0100"],
    })))
    .await;
    assert_eq!((status, body), (204, Value::Null));
    assert!(header(&headers, "request-id").is_some());
    let (_, _, org) = send(client.get(&url).bearer_auth(&token)).await;
    assert_eq!(
        org["securityComplianceNotificationMails"],
        json!(["soc@contoso.com", "ciso@contoso.com"])
    );
    assert_eq!(
        org["securityComplianceNotificationPhones"],
        json!(["+1 555 0100"])
    );
    assert_eq!(
        org["technicalNotificationMails"],
        json!(["it-admin@contoso.com"]),
        "untouched"
    );
    assert_eq!(
        sim.state().organization(TENANT).expect("known")["securityComplianceNotificationMails"],
        json!(["soc@contoso.com", "ciso@contoso.com"])
    );

    // Refused changes change nothing.
    for (body, code, message) in [
        (
            json!({"displayName": "Fabrikam"}),
            "Request_BadRequest",
            "Invalid property 'displayName'.".to_owned(),
        ),
        (
            json!({"technicalNotificationMails": ["x@contoso.com"], "colour": "blue"}),
            "Request_BadRequest",
            "Invalid property 'colour'.".to_owned(),
        ),
        (
            json!({"technicalNotificationMails": ["not an address"]}),
            "Request_BadRequest",
            "Invalid value specified for property 'technicalNotificationMails' of resource 'Organization'.".to_owned(),
        ),
        (
            json!({"technicalNotificationMails": "x@contoso.com"}),
            "Request_BadRequest",
            "Invalid value specified for property 'technicalNotificationMails' of resource 'Organization'.".to_owned(),
        ),
    ] {
        let (status, _, answer) = send(client.patch(&url).bearer_auth(&token).json(&body)).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(graph_error(&answer), (code, message.as_str()), "{body}");
    }
    let (status, _, answer) = send(
        client
            .patch(&url)
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body("{not json"),
    )
    .await;
    assert_eq!((status, graph_error(&answer).0), (400, "BadRequest"));
    let (_, _, after) = send(client.get(&url).bearer_auth(&token)).await;
    assert_eq!(after, org);

    let writes = sim.state().organization_writes(TENANT).expect("known");
    assert_eq!(writes.len(), 1);
    assert_eq!(writes[0].caller, WRITER_OID);
    assert_eq!(writes[0].client_id.as_deref(), Some(WRITER));
    assert_eq!(
        writes[0].properties,
        [
            "securityComplianceNotificationMails",
            "securityComplianceNotificationPhones"
        ]
    );
    assert_eq!(
        sim.state()
            .requests()
            .count("PATCH", RouteKind::GraphOrganization, None),
        6
    );
}

#[tokio::test]
async fn graph_permissions_decide_reading_and_writing() {
    let sim = start(world()).await;
    let client = http(&sim);
    let url = organization_url(&sim, Some(TENANT));
    let change = json!({"technicalNotificationMails": ["noc@contoso.com"]});

    // Organization.Read.All reads but cannot write.
    let reader = graph_token(&sim, TENANT, READER, READER_SECRET).await;
    let (status, _, _) = send(client.get(&url).bearer_auth(&reader)).await;
    assert_eq!(status, 200);
    let (status, _, body) = send(client.patch(&url).bearer_auth(&reader).json(&change)).await;
    assert_eq!(status, 403);
    assert_eq!(body["error"]["code"], "Authorization_RequestDenied");
    assert_eq!(
        body["error"]["message"],
        "Insufficient privileges to complete the operation."
    );
    let inner = &body["error"]["innerError"];
    for field in ["date", "request-id", "client-request-id"] {
        assert!(inner[field].is_string(), "{field}: {body}");
    }
    assert!(
        inner["date"]
            .as_str()
            .is_some_and(|d| d.len() == 19 && d.contains('T')),
        "{inner}"
    );

    // No Graph permission at all: not even a read.
    let (credential, _dir) = workload_credential(&sim, FEDERATED, &issuer().operator_token());
    let nothing = credential
        .get_token(&[azure_sim::GRAPH_SCOPE], None)
        .await
        .expect("a Graph token, without roles")
        .token
        .secret()
        .to_owned();
    for request in [
        client.get(&url).bearer_auth(&nothing),
        client
            .get(organization_url(&sim, None))
            .bearer_auth(&nothing),
        client.patch(&url).bearer_auth(&nothing).json(&change),
    ] {
        let (status, _, body) = send(request).await;
        assert_eq!(
            (status, graph_error(&body).0),
            (403, "Authorization_RequestDenied")
        );
    }

    // A grant takes effect with the next token, as with real JWT roles.
    sim.state()
        .set_graph_permissions(TENANT, READER, vec!["Organization.ReadWrite.All".into()])
        .expect("grant");
    let (status, _, _) = send(client.patch(&url).bearer_auth(&reader).json(&change)).await;
    assert_eq!(status, 403, "the old token keeps its roles");
    let fresh = graph_token(&sim, TENANT, READER, READER_SECRET).await;
    let (status, _, _) = send(client.patch(&url).bearer_auth(&fresh).json(&change)).await;
    assert_eq!(status, 204);
    assert_eq!(
        sim.state().organization(TENANT).expect("known")["technicalNotificationMails"],
        json!(["noc@contoso.com"])
    );
    // Directory.Read.All reads too.
    sim.state()
        .set_graph_permissions(TENANT, READER, vec!["Directory.Read.All".into()])
        .expect("grant");
    let directory = graph_token(&sim, TENANT, READER, READER_SECRET).await;
    let (status, _, _) = send(client.get(&url).bearer_auth(&directory)).await;
    assert_eq!(status, 200);
    let (status, _, _) = send(client.patch(&url).bearer_auth(&directory).json(&change)).await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn organization_over_the_control_api_and_graph_faults() {
    let sim = start(world()).await;
    let client = http(&sim);
    let control = format!("{}_sim/tenants/{TENANT}/organization", sim.url());
    let (status, _, org) = send(client.get(&control)).await;
    assert_eq!(status, 200);
    assert_eq!(
        org["technicalNotificationMails"],
        json!(["it-admin@contoso.com"])
    );
    let (status, _, _) = send(
        client
            .put(format!("{control}?caller=entra-admin%40contoso.com"))
            .json(&json!({"securityComplianceNotificationMails": ["soc@contoso.com"], "displayName": "Contoso Ltd"})),
    )
    .await;
    assert_eq!(status, 204);
    let (_, _, org) = send(client.get(&control)).await;
    assert_eq!(org["displayName"], "Contoso Ltd");
    assert_eq!(
        org["securityComplianceNotificationMails"],
        json!(["soc@contoso.com"])
    );
    let writes = sim.state().organization_writes(TENANT).expect("known");
    assert_eq!(
        (writes[0].caller.as_str(), writes[0].client_id.as_deref()),
        ("entra-admin@contoso.com", None)
    );
    let (status, _, _) = send(client.put(&control).json(&json!({"colour": "blue"}))).await;
    assert_eq!(status, 400);
    let (status, _, _) =
        send(client.get(format!("{}_sim/tenants/nope/organization", sim.url()))).await;
    assert_eq!(status, 404);
    sim.state()
        .set_organization(TENANT, json!({"technicalNotificationMails": []}))
        .expect("rust edit");
    assert_eq!(
        sim.state().organization_writes(TENANT).expect("known")[1].caller,
        azure_sim::DEFAULT_PORTAL_CALLER
    );
    // Graph permissions over the control API.
    let permissions = format!(
        "{}_sim/tenants/{TENANT}/principals/{FEDERATED}/graph-permissions",
        sim.url()
    );
    let (status, _, _) = send(
        client
            .put(&permissions)
            .json(&json!({"permissions": ["Organization.Read.All"]})),
    )
    .await;
    assert_eq!(status, 204);
    let (_, _, got) = send(client.get(&permissions)).await;
    assert_eq!(got, json!({"permissions": ["Organization.Read.All"]}));

    // A storm scoped to Graph answers Graph's 429; ARM is untouched.
    let token = graph_token(&sim, TENANT, WRITER, WRITER_SECRET).await;
    sim.state()
        .set_faults(FaultConfig {
            rules: vec![FaultRule {
                route: Some(RouteKind::GraphOrganization),
                storm: Some(Storm {
                    requests: Some(1),
                    seconds: None,
                    retry_after_secs: 3,
                    retry_after_ms: None,
                }),
                ..FaultRule::default()
            }],
            ..FaultConfig::default()
        })
        .expect("faults");
    let url = organization_url(&sim, Some(TENANT));
    let (status, headers, body) = send(client.get(&url).bearer_auth(&token)).await;
    assert_eq!(status, 429);
    assert_eq!(header(&headers, "retry-after"), Some("3"));
    assert_eq!(body["error"]["code"], "TooManyRequests");
    assert!(body["error"]["innerError"]["request-id"].is_string());
    let (status, _, _) = send(client.get(&url).bearer_auth(&token)).await;
    assert_eq!(status, 200);
    sim.state()
        .set_faults(FaultConfig {
            seed: Some(1),
            rules: vec![FaultRule {
                route: Some(RouteKind::GraphOrganization),
                error_rate: 1.0,
                ..FaultRule::default()
            }],
        })
        .expect("faults");
    let (status, _, body) = send(client.get(&url).bearer_auth(&token)).await;
    assert!(status == 500 || status == 503, "{status}");
    assert!(body["error"]["code"].is_string() && body["error"]["innerError"].is_object());
    let arm = writer_token(&sim).await;
    let (status, _, _) = send(client.get(contact_url(&sim, SUBS[0])).bearer_auth(&arm)).await;
    assert_eq!(status, 404, "ARM is not faulted");
}

#[tokio::test]
async fn demo_world_has_a_tenant_organization() {
    let sim = start(SimConfig::demo()).await;
    let client = http(&sim);
    let token = graph_token(
        &sim,
        azure_sim::DEMO_TENANT_ID,
        azure_sim::DEMO_CLIENT_ID,
        azure_sim::DEMO_CLIENT_SECRET,
    )
    .await;
    let url = organization_url(&sim, Some(azure_sim::DEMO_TENANT_ID));
    let (status, _, org) = send(client.get(&url).bearer_auth(&token)).await;
    assert_eq!(status, 200);
    assert_eq!(
        org["technicalNotificationMails"],
        json!(["it-admin@contoso.com"])
    );
    assert_eq!(org["securityComplianceNotificationMails"], json!([]));
    let (status, _, _) = send(
        client
            .patch(&url)
            .bearer_auth(&token)
            .json(&json!({"securityComplianceNotificationMails": ["security@contoso.com"]})),
    )
    .await;
    assert_eq!(status, 204);
}

/// Paths (`/a/b`) of `example` missing from `actual` or of another JSON type there; `claims`
/// are the token's and differ by design.
fn shape_differences(example: &Value, actual: &Value, path: &str, out: &mut Vec<String>) {
    let Value::Object(fields) = example else {
        return;
    };
    for (key, value) in fields {
        let here = format!("{path}/{key}");
        match actual.get(key) {
            None => out.push(format!("{here} missing")),
            Some(got) if std::mem::discriminant(got) != std::mem::discriminant(value) => {
                out.push(format!("{here} is {got}, example has {value}"));
            }
            Some(_) if key == "claims" => {}
            Some(got) => shape_differences(value, got, &here, out),
        }
    }
}

#[tokio::test]
async fn activity_log_events_have_the_published_example_shape() {
    let example: Value = serde_json::from_str(include_str!(
        "fixtures/arm/2015-04-01/GetActivityLogsFiltered.json"
    ))
    .expect("example JSON");
    let example_event = &example["responses"]["200"]["body"]["value"][0];
    let sim = start(world()).await;
    let client = http(&sim);
    let token = writer_token(&sim).await;
    let (status, _, _) = send(
        client
            .put(contact_url(&sim, SUBS[0]))
            .bearer_auth(&token)
            .json(&json!({"properties": sample_properties()})),
    )
    .await;
    assert_eq!(status, 201);
    let (status, _, body) = send(
        client
            .get(activity_log_url(&sim, SUBS[0], Some(&recent("")), None))
            .bearer_auth(&token),
    )
    .await;
    assert_eq!(status, 200);
    let ours = &body["value"][0];
    assert_eq!(ours["status"]["value"], "Succeeded");
    let mut differences = Vec::new();
    shape_differences(example_event, ours, "", &mut differences);
    // Current events of the real service carry no role in `authorization` (the published
    // example is from 2015).
    assert_eq!(differences, ["/authorization/role missing"]);
    // Same conventions as the example: 7-digit UTC times, ids ending in .NET ticks.
    let timestamp = ours["eventTimestamp"].as_str().expect("timestamp");
    assert_eq!(
        (
            timestamp.len(),
            example_event["eventTimestamp"].as_str().map(str::len)
        ),
        (28, Some(28))
    );
    let ticks = ours["id"]
        .as_str()
        .and_then(|id| id.rsplit_once("/ticks/"))
        .and_then(|(_, t)| t.parse::<u64>().ok())
        .expect("ticks");
    assert!(ticks > 635_574_752_669_792_776);
    assert_eq!(ours["subStatus"], example_event["subStatus"]);
    assert_eq!(ours["properties"]["statusCode"], "Created");
}
