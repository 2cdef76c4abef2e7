//! The documented names of poem-openapi's routes.
//!
//! poem-openapi mounts `/wallets/{id}` as the poem route `/wallets/:param0`, so the route
//! pattern poem reports reads `:param0` and a path parameter that fails to parse is reported
//! as `param0`. This table, built once from the APIs' OpenAPI metadata, maps both back to what
//! clients see in the OpenAPI document: metrics are labelled `/api/wallets/{id}` and a bad id
//! is reported as the field `id`.

use poem_openapi::OpenApi;
use std::collections::HashMap;

/// A route as the OpenAPI document names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DocumentedRoute {
    /// With the mount prefix: `/api/wallets/{id}`.
    pub path: String,
    /// Path parameter names in order: `param0` is `params[0]`.
    pub params: Vec<String>,
    /// The methods the path accepts, for a 405's `Allow` (`GET, PATCH`).
    pub methods: Vec<String>,
}

/// Documented routes by poem route pattern.
#[derive(Debug, Default)]
pub(crate) struct DocumentedRoutes {
    by_pattern: HashMap<String, DocumentedRoute>,
}

impl DocumentedRoutes {
    /// The routes of the APIs `T`, mounted under `prefix`.
    pub(crate) fn of<T: OpenApi>(prefix: &str) -> Self {
        let by_pattern = T::meta()
            .into_iter()
            .flat_map(|api| api.paths)
            .map(|path| {
                let (pattern, mut route) = documented(prefix, &path.path);
                route.methods =
                    path.operations.iter().map(|operation| operation.method.to_string()).collect();
                (pattern, route)
            })
            .collect();
        Self { by_pattern }
    }

    /// What a 405 at `pattern` (or, outside the documented API, at `path`) says is allowed.
    pub(crate) fn allowed(&self, pattern: Option<&str>, path: &str) -> Option<String> {
        if let Some(route) = pattern.and_then(|pattern| self.route(pattern)) {
            let mut methods = route.methods.clone();
            methods.sort();
            return Some(methods.join(", "));
        }
        // The operational endpoints and documents are read-only.
        const READ_ONLY: &[&str] =
            &["/health", "/ready", "/metrics", "/api/openapi.json", "/api/asyncapi.json", "/api/ws"];
        (READ_ONLY.contains(&path) || path.starts_with("/docs")).then(|| "GET".to_owned())
    }

    /// The documented route of a poem route pattern.
    pub(crate) fn route(&self, pattern: &str) -> Option<&DocumentedRoute> {
        self.by_pattern.get(pattern)
    }

    /// The documented name of the path parameter poem-openapi calls `internal` (`param<N>`).
    pub(crate) fn param_name(&self, pattern: &str, internal: &str) -> Option<&str> {
        let index: usize = internal.strip_prefix("param")?.parse().ok()?;
        self.route(pattern)?.params.get(index).map(String::as_str)
    }
}

/// The poem pattern of an OpenAPI path, the way poem-openapi's derive converts it.
fn documented(prefix: &str, openapi_path: &str) -> (String, DocumentedRoute) {
    let mut pattern = prefix.trim_end_matches('/').to_owned();
    let mut params = Vec::new();
    for segment in openapi_path.split('/').filter(|s| !s.is_empty()) {
        pattern.push('/');
        match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            Some(name) => {
                pattern.push_str(&format!(":param{}", params.len()));
                params.push(name.to_owned());
            }
            None => pattern.push_str(segment),
        }
    }
    let path = format!("{}{}", prefix.trim_end_matches('/'), openapi_path);
    (pattern, DocumentedRoute { path, params, methods: Vec::new() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openapi_paths_map_to_poem_patterns() {
        let (pattern, route) = documented("/api", "/wallets/{id}/transfers/{transferId}");
        assert_eq!(pattern, "/api/wallets/:param0/transfers/:param1");
        assert_eq!(route.path, "/api/wallets/{id}/transfers/{transferId}");
        assert_eq!(route.params, ["id", "transferId"]);
        let routes = DocumentedRoutes { by_pattern: HashMap::from([(pattern.clone(), route)]) };
        assert_eq!(routes.param_name(&pattern, "param1"), Some("transferId"));
        assert_eq!(routes.param_name(&pattern, "param2"), None);
        assert_eq!(routes.param_name(&pattern, "id"), None);
    }
}
