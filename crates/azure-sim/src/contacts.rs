//! `Microsoft.Security/securityContacts` at api-version 2023-12-01-preview: the resource shape,
//! PUT-body validation, and the four operations (the 2023-12-01-preview spec and examples, and the behaviour reported in public issues).
//!
//! The stored record is the `properties` object exactly as the last writer sent it, unknown
//! fields included: ARM echoes what it accepts, and the spec says nothing about normalising
//! `emails` (separator, spaces, case), so nothing is normalised here either.

use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde_json::{Map, Value, json};

use super::arm_error::ArmError;
use super::state::Subscription;

/// The only contact name the 2023 API allows.
pub(crate) const CONTACT_NAME: &str = "default";

const RESOURCE_TYPE: &str = "Microsoft.Security/securityContacts";

/// Name check. The spec pattern is `^(default)$`, but ARM resource names are case-insensitive
/// and an earlier revision of the spec used `Default`, so any casing is accepted (UNVERIFIED)
/// and the canonical lower-case name is returned.
pub(crate) fn check_name(name: &str) -> Result<(), ArmError> {
    if name.eq_ignore_ascii_case(CONTACT_NAME) {
        Ok(())
    } else {
        Err(ArmError::invalid_contact_name())
    }
}

/// The full resource as GET, PUT and LIST return it; with `etag` (see `SimConfig::etags`).
pub(crate) fn resource(subscription_id: &str, properties: &Value, etag: Option<String>) -> Value {
    let mut resource = json!({
        "id": format!("/subscriptions/{subscription_id}/providers/{RESOURCE_TYPE}/{CONTACT_NAME}"),
        "name": CONTACT_NAME,
        "type": RESOURCE_TYPE,
        "properties": properties,
    });
    if let Some(etag) = etag {
        resource["etag"] = Value::String(etag);
    }
    resource
}

fn ok_json(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

/// The contact's etag when etags are served.
fn etag(sub: &Subscription, etags: bool) -> Option<String> {
    etags.then(|| format!("\"{}\"", sub.contact_version))
}

/// `If-Match` (when etags are served): `*` matches an existing contact, a tag matches only
/// the current one; anything else is 412, as for other ARM resources with etags.
fn precondition(sub: &Subscription, etags: bool, if_match: Option<&str>) -> Result<(), ArmError> {
    let (true, Some(wanted)) = (etags, if_match) else {
        return Ok(());
    };
    let matches = match wanted.trim() {
        "*" => sub.contact.is_some(),
        tag => sub.contact.is_some() && Some(tag.to_owned()) == etag(sub, etags),
    };
    if matches {
        Ok(())
    } else {
        Err(ArmError::precondition_failed())
    }
}

pub(crate) fn get(sub: &Subscription, etags: bool) -> Response {
    match &sub.contact {
        Some(properties) => ok_json(
            StatusCode::OK,
            resource(&sub.id, properties, etag(sub, etags)),
        ),
        None => ArmError::contact_not_found(&sub.id).into_response(),
    }
}

/// LIST has no paging in practice (one contact per subscription), so no `nextLink`.
pub(crate) fn list(sub: &Subscription, etags: bool) -> Response {
    let value: Vec<Value> = sub
        .contact
        .iter()
        .map(|properties| resource(&sub.id, properties, etag(sub, etags)))
        .collect();
    ok_json(StatusCode::OK, json!({ "value": value }))
}

/// 201 when created, 200 when replaced, echoing the stored resource.
pub(crate) fn put(
    sub: &mut Subscription,
    body: &[u8],
    etags: bool,
    if_match: Option<&str>,
) -> Response {
    if let Err(error) = precondition(sub, etags, if_match) {
        return error.into_response();
    }
    let properties = match parse_put_body(body) {
        Ok(properties) => properties,
        Err(error) => return error.into_response(),
    };
    sub.contact_version += 1;
    let response_body = resource(&sub.id, &properties, etag(sub, etags));
    let status = match sub.contact.replace(properties) {
        Some(_) => StatusCode::OK,
        None => StatusCode::CREATED,
    };
    ok_json(status, response_body)
}

/// 200 with no body when a contact was deleted, 204 when there was none.
pub(crate) fn delete(sub: &mut Subscription, etags: bool, if_match: Option<&str>) -> Response {
    if let Err(error) = precondition(sub, etags, if_match) {
        return error.into_response();
    }
    sub.contact_version += 1;
    match sub.contact.take() {
        Some(_) => StatusCode::OK.into_response(),
        None => StatusCode::NO_CONTENT.into_response(),
    }
}

/// Validates a PUT body as far as the 2023-12-01-preview spec constrains it and returns the
/// `properties` to store. Read-only envelope fields (`id`, `name`, `type`, `systemData`) are
/// ignored, as ARM does; a body without `properties` stores an empty object.
pub(crate) fn parse_put_body(body: &[u8]) -> Result<Value, ArmError> {
    let document: Value = serde_json::from_slice(body)
        .map_err(|e| ArmError::invalid_request_content(&e.to_string()))?;
    let Value::Object(mut envelope) = document else {
        return Err(ArmError::invalid_request_content(
            "the request body must be a JSON object",
        ));
    };
    let properties = match envelope.remove("properties") {
        None | Some(Value::Null) => Value::Object(Map::new()),
        Some(properties @ Value::Object(_)) => properties,
        Some(_) => {
            return Err(ArmError::invalid_input_json(
                "'properties' must be an object",
            ));
        }
    };
    validate_properties(&properties).map_err(|detail| ArmError::invalid_input_json(&detail))?;
    Ok(properties)
}

/// Type checks of `SecurityContactProperties`. Enum-valued fields are extensible strings
/// (`modelAsString: true`), so any string passes; `sourceType` is the only required field.
fn validate_properties(properties: &Value) -> Result<(), String> {
    let field = |name: &str| properties.get(name).filter(|v| !v.is_null());
    let expect_string = |value: Option<&Value>, path: &str| match value {
        Some(v) if !v.is_string() => Err(format!("'{path}' must be a string")),
        _ => Ok(()),
    };
    expect_string(field("emails"), "properties.emails")?;
    expect_string(field("phone"), "properties.phone")?;
    if field("isEnabled").is_some_and(|v| !v.is_boolean()) {
        return Err("'properties.isEnabled' must be a boolean".into());
    }
    if let Some(by_role) = field("notificationsByRole") {
        if !by_role.is_object() {
            return Err("'properties.notificationsByRole' must be an object".into());
        }
        expect_string(by_role.get("state"), "properties.notificationsByRole.state")?;
        match by_role.get("roles") {
            None | Some(Value::Null) => {}
            Some(Value::Array(roles)) if roles.iter().all(Value::is_string) => {}
            Some(_) => {
                return Err(
                    "'properties.notificationsByRole.roles' must be an array of strings".into(),
                );
            }
        }
    }
    if let Some(sources) = field("notificationsSources") {
        let Value::Array(sources) = sources else {
            return Err("'properties.notificationsSources' must be an array".into());
        };
        for (i, source) in sources.iter().enumerate() {
            let path = format!("properties.notificationsSources[{i}]");
            if !source.is_object() {
                return Err(format!("'{path}' must be an object"));
            }
            match source.get("sourceType") {
                Some(Value::String(_)) => {}
                _ => {
                    return Err(format!(
                        "'{path}.sourceType' is required and must be a string"
                    ));
                }
            }
            expect_string(
                source.get("minimalSeverity"),
                &format!("{path}.minimalSeverity"),
            )?;
            expect_string(
                source.get("minimalRiskLevel"),
                &format!("{path}.minimalRiskLevel"),
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(body: &str) -> Option<String> {
        parse_put_body(body.as_bytes()).err().map(|e| e.code)
    }

    #[test]
    fn accepts_spec_bodies_and_keeps_unknown_fields() {
        let body = r#"{"properties":{"emails":"a@contoso.com;b@contoso.com","phone":"","isEnabled":true,
            "notificationsByRole":{"state":"On","roles":["Owner","SomeFutureRole"]},
            "notificationsSources":[{"sourceType":"Alert","minimalSeverity":"Medium"},
                                    {"sourceType":"Compliance","future":1}],
            "somethingNew":{"x":1}},"id":"ignored","location":"West Europe"}"#;
        let properties = parse_put_body(body.as_bytes()).expect("valid");
        assert_eq!(properties["somethingNew"]["x"], 1);
        assert_eq!(properties["notificationsSources"][1]["future"], 1);
        assert!(properties.get("id").is_none());
        assert_eq!(parse_put_body(b"{}").expect("valid"), json!({}));
    }

    #[test]
    fn rejects_what_the_service_rejects() {
        assert_eq!(code("{not json"), Some("InvalidRequestContent".into()));
        assert_eq!(code(""), Some("InvalidRequestContent".into()));
        assert_eq!(code("[]"), Some("InvalidRequestContent".into()));
        assert_eq!(
            code(r#"{"properties":[]}"#),
            Some("InvalidInputJson".into())
        );
        assert_eq!(
            code(r#"{"properties":{"emails":["a@contoso.com"]}}"#),
            Some("InvalidInputJson".into())
        );
        assert_eq!(
            code(r#"{"properties":{"isEnabled":"true"}}"#),
            Some("InvalidInputJson".into())
        );
        assert_eq!(
            code(r#"{"properties":{"notificationsSources":[{"minimalSeverity":"High"}]}}"#),
            Some("InvalidInputJson".into())
        );
        assert_eq!(
            code(r#"{"properties":{"notificationsByRole":{"roles":"Owner"}}}"#),
            Some("InvalidInputJson".into())
        );
    }

    #[test]
    fn names_and_resource_shape() {
        assert!(check_name("default").is_ok());
        assert!(check_name("Default").is_ok());
        assert!(check_name("default1").is_err());
        let r = resource("s", &json!({"emails": "x"}), None);
        assert_eq!(
            r["id"],
            "/subscriptions/s/providers/Microsoft.Security/securityContacts/default"
        );
        assert_eq!(r["type"], "Microsoft.Security/securityContacts");
    }
}
