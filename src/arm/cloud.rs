//! Azure clouds: where ARM, Entra and Microsoft Graph live, and the token scopes they accept.

use url::Url;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Cloud {
    Public,
    Usgov,
    China,
}

/// Where to send ARM calls and token requests, and which scope to ask for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoints {
    pub arm: Url,
    pub authority_host: Url,
    pub scope: String,
    /// Microsoft Graph (the tenant's own notification addresses).
    pub graph: Url,
    pub graph_scope: String,
}

impl Cloud {
    /// Values from `azure-mgmt-core` `get_arm_endpoints` and `azure_identity` authority hosts.
    pub fn endpoints(self) -> Endpoints {
        let (arm, audience, authority, graph) = match self {
            Cloud::Public => (
                "https://management.azure.com/",
                "https://management.azure.com",
                "https://login.microsoftonline.com/",
                "https://graph.microsoft.com",
            ),
            Cloud::Usgov => (
                "https://management.usgovcloudapi.net/",
                "https://management.core.usgovcloudapi.net",
                "https://login.microsoftonline.us/",
                "https://graph.microsoft.us",
            ),
            Cloud::China => (
                "https://management.chinacloudapi.cn/",
                "https://management.chinacloudapi.cn",
                "https://login.chinacloudapi.cn/",
                "https://microsoftgraph.chinacloudapi.cn",
            ),
        };
        Endpoints {
            arm: Url::parse(arm).expect("static URL"),
            authority_host: Url::parse(authority).expect("static URL"),
            scope: format!("{audience}/.default"),
            graph: Url::parse(graph).expect("static URL"),
            // Graph's national-cloud deployments each take their own host as the audience.
            graph_scope: format!("{graph}/.default"),
        }
    }
}

impl Endpoints {
    /// A cloud's endpoints with custom overrides (a sovereign cloud, a proxy, the simulator).
    /// The scope stays the cloud's: ARM's audience does not change with its address.
    pub fn with_overrides(cloud: Cloud, arm: Option<Url>, authority_host: Option<Url>) -> Self {
        let base = cloud.endpoints();
        Endpoints {
            arm: arm.unwrap_or(base.arm),
            authority_host: authority_host.unwrap_or(base.authority_host),
            ..base
        }
    }

    /// With Microsoft Graph at another address (a proxy, the simulator); the scope stays the
    /// cloud's, as for ARM.
    pub fn with_graph(mut self, graph: Option<Url>) -> Self {
        if let Some(graph) = graph {
            self.graph = graph;
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sovereign_scopes() {
        assert_eq!(
            Cloud::Usgov.endpoints().scope,
            "https://management.core.usgovcloudapi.net/.default"
        );
        assert_eq!(
            Cloud::China.endpoints().arm.as_str(),
            "https://management.chinacloudapi.cn/"
        );
    }

    #[test]
    fn overrides_keep_the_scope() {
        let e = Endpoints::with_overrides(
            Cloud::Public,
            Some(Url::parse("https://127.0.0.1:8443/").unwrap()),
            None,
        );
        assert_eq!(e.arm.as_str(), "https://127.0.0.1:8443/");
        assert_eq!(e.scope, "https://management.azure.com/.default");
        assert_eq!(
            e.authority_host.as_str(),
            "https://login.microsoftonline.com/"
        );
    }
}
