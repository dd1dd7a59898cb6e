//! URL groups (QStash "topics"): named sets of endpoints a publish fans out
//! to, one message per endpoint.

/// One endpoint of a group; its URL identifies it within the group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupEndpoint {
    pub url: String,
    pub name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlGroup {
    pub name: String,
    /// Unix ms.
    pub created_at: u64,
    pub updated_at: u64,
    /// Ordered by URL.
    pub endpoints: Vec<GroupEndpoint>,
}

/// Which endpoints a removal names: by URL or by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndpointSelection {
    pub urls: Vec<String>,
    pub names: Vec<String>,
}

impl EndpointSelection {
    pub fn matches(&self, endpoint: &GroupEndpoint) -> bool {
        self.urls.contains(&endpoint.url)
            || endpoint
                .name
                .as_ref()
                .is_some_and(|n| self.names.contains(n))
    }
}
