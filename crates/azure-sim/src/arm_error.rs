//! ARM error responses: `{"error":{"code":…,"message":…}}` with the status, code and message
//! text Azure uses (ARM's common error response in Azure/azure-rest-api-specs `common-types`, and the codes ARM documents).
//!
//! Codes and messages not settled by a public source are marked UNVERIFIED here; they are
//! plausible shapes, and clients should branch on the HTTP status rather than on them.

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};

/// The api-version served for `Microsoft.Security/securityContacts`.
pub(crate) const CONTACTS_API_VERSION: &str = "2023-12-01-preview";

/// The api-versions served for management group descendants: the stable versions of
/// Microsoft.Management whose `ManagementGroups_GetDescendants` answers the same
/// `DescendantListResult` (learn.microsoft.com/rest/api/managementgroups/management-groups/get-descendants;
/// the .NET SDK's default is 2023-04-01). Newest first, as ARM lists them.
pub(crate) const MANAGEMENT_GROUPS_API_VERSIONS: [&str; 3] =
    ["2023-04-01", "2021-04-01", "2020-05-01"];

/// An ARM error about to be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ArmError {
    pub(crate) status: StatusCode,
    pub(crate) code: String,
    pub(crate) message: String,
    /// Extra headers (`Retry-After`, `WWW-Authenticate`, …).
    pub(crate) headers: Vec<(&'static str, String)>,
    /// `{"code", "message"}` without the `error` envelope, as older resource providers answer
    /// (Microsoft.Insights 2015-04-01's `ErrorResponse`).
    pub(crate) flat: bool,
}

impl ArmError {
    pub(crate) fn new(status: StatusCode, code: &str, message: impl Into<String>) -> ArmError {
        ArmError {
            status,
            code: code.to_owned(),
            message: message.into(),
            headers: Vec::new(),
            flat: false,
        }
    }

    /// The same error without the `error` envelope.
    pub(crate) fn flat(mut self) -> ArmError {
        self.flat = true;
        self
    }

    pub(crate) fn with_header(mut self, name: &'static str, value: impl Into<String>) -> ArmError {
        self.headers.push((name, value.into()));
        self
    }

    pub(crate) fn missing_api_version() -> ArmError {
        ArmError::new(
            StatusCode::BAD_REQUEST,
            "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
        )
    }

    pub(crate) fn invalid_api_version(given: &str) -> ArmError {
        ArmError::invalid_api_version_of(given, &[CONTACTS_API_VERSION])
    }

    /// ARM lists the supported versions comma-separated, without spaces.
    pub(crate) fn invalid_api_version_of(given: &str, supported: &[&str]) -> ArmError {
        ArmError::new(
            StatusCode::BAD_REQUEST,
            "InvalidApiVersionParameter",
            format!(
                "The api-version '{given}' is invalid. The supported versions are '{}'.",
                supported.join(",")
            ),
        )
    }

    /// ARM's answer for a management group that does not exist: 404 `NotFound`, message
    /// `'<group resource id>' not found`, as reported for `GET …/managementGroups/{id}`
    /// (api-version 2020-05-01) in JulianHayward/AzADServicePrincipalInsights#22 and
    /// JulianHayward/Azure-MG-Sub-Governance-Reporting#109. That `…/descendants` answers the
    /// same is UNVERIFIED; so is the 404 for callers without any read on the hierarchy (real ARM
    /// may answer them 403 `AuthorizationFailed`, as in Azure/azure-cli#15589).
    pub(crate) fn management_group_not_found(group: &str) -> ArmError {
        ArmError::new(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("'/providers/Microsoft.Management/managementGroups/{group}' not found"),
        )
    }

    /// A `$top` that is not a positive integer. Status, code and message UNVERIFIED.
    pub(crate) fn invalid_top(given: &str) -> ArmError {
        ArmError::new(
            StatusCode::BAD_REQUEST,
            "InvalidQueryParameterValue",
            format!(
                "The value '{given}' of the query parameter '$top' is invalid: it must be a positive integer."
            ),
        )
    }

    /// A `$skiptoken` the simulator did not issue (or issued for another group). Status and
    /// code UNVERIFIED.
    pub(crate) fn invalid_skip_token(given: &str) -> ArmError {
        ArmError::new(
            StatusCode::BAD_REQUEST,
            "InvalidSkipToken",
            format!("The skip token '{given}' is invalid."),
        )
    }

    pub(crate) fn subscription_not_found(subscription: &str) -> ArmError {
        ArmError::new(
            StatusCode::NOT_FOUND,
            "SubscriptionNotFound",
            format!("The subscription '{subscription}' could not be found."),
        )
    }

    pub(crate) fn authorization_failed(object_id: &str, action: &str, scope: &str) -> ArmError {
        ArmError::new(
            StatusCode::FORBIDDEN,
            "AuthorizationFailed",
            format!(
                "The client '{object_id}' with object id '{object_id}' does not have authorization to perform action '{action}' over scope '{scope}' or the scope is invalid. If access was recently granted, please refresh your credentials."
            ),
        )
    }

    /// Microsoft.Security's own not-registered answer: 404 with a code containing spaces.
    pub(crate) fn security_not_registered() -> ArmError {
        ArmError::new(
            StatusCode::NOT_FOUND,
            "Subscription Not Registered",
            "Please register to Microsoft.Security in order to view your security status",
        )
    }

    /// Code UNVERIFIED (only the message is documented, prowler-cloud/prowler#3373, whose
    /// "(404) …" rendering hints that the real code may be the string "404").
    pub(crate) fn contact_not_found(subscription: &str) -> ArmError {
        ArmError::new(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!(
                "Could not find security contact with name default for subscriptionId: {subscription}"
            ),
        )
    }

    /// ARM's answer to an `If-Match` that does not match (only with `SimConfig::etags`).
    pub(crate) fn precondition_failed() -> ArmError {
        ArmError::new(
            StatusCode::PRECONDITION_FAILED,
            "PreconditionFailed",
            "The condition specified using HTTP conditional header(s) is not met.".to_owned(),
        )
    }

    /// Status and code UNVERIFIED; message from Azure/missionlz#801.
    pub(crate) fn invalid_contact_name() -> ArmError {
        ArmError::new(
            StatusCode::BAD_REQUEST,
            "InvalidInputJson",
            "security contact name is invalid. The only valid name for security contact is 'default'",
        )
    }

    /// Status UNVERIFIED (microsoft/vscode-azureappservice#912 shows the code and message).
    pub(crate) fn read_only_subscription(subscription: &str) -> ArmError {
        ArmError::new(
            StatusCode::CONFLICT,
            "ReadOnlyDisabledSubscription",
            format!(
                "The subscription '{subscription}' is disabled and therefore marked as read only. You cannot perform any write actions on this subscription until it is re-enabled."
            ),
        )
    }

    pub(crate) fn invalid_request_content(detail: &str) -> ArmError {
        ArmError::new(
            StatusCode::BAD_REQUEST,
            "InvalidRequestContent",
            format!("The request content was invalid and could not be deserialized: '{detail}'."),
        )
    }

    /// Microsoft.Security's validation error (code seen with the 2017 API,
    /// hashicorp/terraform-provider-azurerm#6150; message prefix from MicrosoftDocs/azure-docs#24269).
    pub(crate) fn invalid_input_json(detail: &str) -> ArmError {
        ArmError::new(
            StatusCode::BAD_REQUEST,
            "InvalidInputJson",
            format!("Invalid JSON was provided - {detail}"),
        )
    }

    pub(crate) fn method_not_allowed(method: &str) -> ArmError {
        ArmError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            format!("The requested resource does not support http method '{method}'."),
        )
    }

    pub(crate) fn path_not_found(path: &str) -> ArmError {
        ArmError::new(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("The simulator does not serve the path '{path}'."),
        )
    }

    /// Token-bucket exhaustion. Code from MicrosoftDocs/azure-docs#105248; the message follows
    /// the token-bucket wording and is UNVERIFIED.
    pub(crate) fn throttled(
        tenant_scope: bool,
        verb: &str,
        scope: &str,
        object_id: &str,
        retry_after_secs: u64,
    ) -> ArmError {
        let (code, what) = if tenant_scope {
            ("TenantRequestsThrottled", "tenant")
        } else {
            ("SubscriptionRequestsThrottled", "subscription")
        };
        ArmError::new(
            StatusCode::TOO_MANY_REQUESTS,
            code,
            format!(
                "Number of '{verb}' requests for {what} '{scope}' actor '{object_id}' exceeded. Please try again after '{retry_after_secs}' seconds after additional tokens are available. Refer to https://aka.ms/arm-throttling"
            ),
        )
        .with_header("retry-after", retry_after_secs.to_string())
    }

    /// An injected 429 storm.
    pub(crate) fn too_many_requests(
        retry_after_secs: u64,
        retry_after_ms: Option<u64>,
    ) -> ArmError {
        let error = ArmError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "TooManyRequests",
            "The request is being throttled. Please retry after the time given in the Retry-After header.",
        )
        .with_header("retry-after", retry_after_secs.to_string());
        match retry_after_ms {
            Some(ms) => error.with_header("x-ms-retry-after-ms", ms.to_string()),
            None => error,
        }
    }

    /// An injected 500 or 503.
    pub(crate) fn injected_server_error(status: u16, correlation_id: &str) -> ArmError {
        if status == 503 {
            // No Retry-After: clients then back off on their own schedule, which keeps fault
            // tests fast; 429 storms are the tool for exercising Retry-After.
            ArmError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "ServiceUnavailable",
                "The service is currently unavailable. Please try again later.",
            )
        } else {
            ArmError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalServerError",
                format!(
                    "Encountered internal server error. Diagnostic information: request correlation id '{correlation_id}'."
                ),
            )
        }
    }

    pub(crate) fn body(&self) -> serde_json::Value {
        let error = serde_json::json!({"code": self.code, "message": self.message});
        if self.flat {
            error
        } else {
            serde_json::json!({ "error": error })
        }
    }
}

impl IntoResponse for ArmError {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(self.body())).into_response();
        let headers = response.headers_mut();
        for (name, value) in &self.headers {
            // Header values are built from our own ASCII text; skip one that is not.
            if let Ok(value) = HeaderValue::from_str(value) {
                headers.insert(*name, value);
            }
        }
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        response
    }
}
