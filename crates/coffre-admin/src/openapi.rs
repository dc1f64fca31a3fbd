//! The OpenAPI 3 document of the admin API, served at `/openapi.json`. A black-box test calls
//! every operation listed here, so routes and document stay in step.

use serde_json::{Map, Value, json};

/// `(path, method, summary, scope, request body schema)` of every `/admin/v1` operation.
pub(crate) const OPERATIONS: &[(&str, &str, &str, &str, Option<&str>)] = &[
    (
        "/admin/v1/tokens",
        "post",
        "Exchange an access key and secret (HTTP Basic) for a scoped, expiring bearer token",
        "",
        Some("TokenRequest"),
    ),
    ("/admin/v1/tenants", "get", "List tenants (operators)", "tenants", None),
    (
        "/admin/v1/tenants",
        "post",
        "Create a tenant, optionally with a first admin user and access key (operators)",
        "tenants",
        Some("CreateTenant"),
    ),
    ("/admin/v1/tenants/{tenant}", "get", "Show a tenant (operators)", "tenants", None),
    ("/admin/v1/tenants/{tenant}", "delete", "Delete a tenant that owns no bucket (operators)", "tenants", None),
    ("/admin/v1/operators", "get", "List operators (operators)", "tenants", None),
    (
        "/admin/v1/operators",
        "post",
        "Create an operator with an access key, shown once; after the first two (bootstrap) it is pending until a second operator approves it, and only an operator other than root may ask (operators)",
        "tenants",
        Some("CreateOperator"),
    ),
    (
        "/admin/v1/operators/{name}/approve",
        "post",
        "Approve a pending operator: not by root, its creator, an operator its creator created or approved (or the reverse), nor one active for less than the cool-down (operators)",
        "tenants",
        None,
    ),
    ("/admin/v1/tenants/{tenant}/users", "get", "List the tenant's users (its admins)", "iam", None),
    (
        "/admin/v1/tenants/{tenant}/users",
        "post",
        "Create a user, role admin or member (its admins)",
        "iam",
        Some("CreateUser"),
    ),
    (
        "/admin/v1/tenants/{tenant}/users/{user}",
        "delete",
        "Delete a user and its access keys (its admins)",
        "iam",
        None,
    ),
    (
        "/admin/v1/tenants/{tenant}/users/{user}/keys",
        "get",
        "List a user's access keys, never their secrets (its admins)",
        "iam",
        None,
    ),
    (
        "/admin/v1/tenants/{tenant}/users/{user}/keys",
        "post",
        "Create an access key; the secret is shown only in this answer (its admins)",
        "iam",
        Some("CreateKey"),
    ),
    ("/admin/v1/tenants/{tenant}/keys", "get", "List every access key of the tenant (its admins)", "iam", None),
    ("/admin/v1/tenants/{tenant}/keys/{id}", "delete", "Delete an access key (its admins)", "iam", None),
    (
        "/admin/v1/tenants/{tenant}/keys/{id}/{action}",
        "post",
        "Disable or enable an access key; action is disable or enable (its admins)",
        "iam",
        None,
    ),
    (
        "/admin/v1/tenants/{tenant}/users/{user}/policies/{name}",
        "put",
        "Attach an identity policy (AWS JSON policy language); MalformedPolicy if invalid (its admins)",
        "iam",
        Some("Policy"),
    ),
    (
        "/admin/v1/tenants/{tenant}/users/{user}/policies/{name}",
        "get",
        "Show an identity policy (its admins)",
        "iam",
        None,
    ),
    (
        "/admin/v1/tenants/{tenant}/users/{user}/policies/{name}",
        "delete",
        "Detach an identity policy (its admins)",
        "iam",
        None,
    ),
    (
        "/admin/v1/tenants/{tenant}/usage",
        "get",
        "Bytes and objects per bucket of the tenant (operators, its admins)",
        "usage",
        None,
    ),
    ("/admin/v1/buckets/{bucket}/quota", "get", "A bucket's quota and usage (operators)", "quotas", None),
    (
        "/admin/v1/workers",
        "get",
        "Background workers (lifecycle): state, passes, what they did, last error (operators)",
        "usage",
        None,
    ),
    (
        "/admin/v1/buckets/{bucket}/quota",
        "put",
        "Set a bucket's quota: max bytes and objects, enforced on writes (operators)",
        "quotas",
        Some("Quota"),
    ),
    ("/admin/v1/break-glass", "get", "List break-glass requests (operators)", "break-glass", None),
    (
        "/admin/v1/break-glass",
        "post",
        "Request time-limited read access to a tenant's data; needs another operator's approval (operators)",
        "break-glass",
        Some("BreakGlassRequest"),
    ),
    (
        "/admin/v1/break-glass/{id}/approve",
        "post",
        "Approve another operator's break-glass request: not by root, the requester, an operator the requester created or approved (or the reverse), nor one active for less than the cool-down (operators)",
        "break-glass",
        None,
    ),
    (
        "/admin/v1/tenants/{tenant}/audit/export",
        "get",
        "The tenant's audit records (query since, until: RFC 3339) with Merkle inclusion proofs against a checkpoint signed now, and a signed seal (its admins)",
        "audit",
        None,
    ),
    (
        "/admin/v1/audit/pubkey",
        "get",
        "The node's Ed25519 public key, which verifies checkpoints and exports (any token)",
        "any",
        None,
    ),
    ("/admin/v1/keys", "get", "List encryption keys (operators)", "kms", None),
    ("/admin/v1/keys", "post", "Create an encryption key (operators)", "kms", Some("CreateEncryptionKey")),
    ("/admin/v1/keys/{id}", "get", "Show an encryption key (operators)", "kms", None),
    ("/admin/v1/keys/{id}/rewrap", "get", "Progress of the re-wrap after a rotation (operators)", "kms", None),
    (
        "/admin/v1/keys/{id}/{action}",
        "post",
        "rotate, disable, enable or destroy (with {\"confirm\": id}) an encryption key (operators)",
        "kms",
        None,
    ),
];

fn schemas() -> Value {
    let scopes =
        json!({ "type": "string", "enum": ["tenants", "iam", "quotas", "usage", "kms", "break-glass", "audit"] });
    json!({
        "TokenRequest": { "type": "object", "properties": {
            "scopes": { "type": "array", "items": scopes },
            "ttl_seconds": { "type": "integer", "minimum": 1, "maximum": 86400, "default": 3600 } } },
        "CreateTenant": { "type": "object", "required": ["name"], "properties": {
            "name": { "type": "string", "pattern": "^[a-z0-9][a-z0-9-]{2,62}$" },
            "admin_user": { "type": "string" } } },
        "CreateOperator": { "type": "object", "required": ["name"], "properties": { "name": { "type": "string" } } },
        "CreateUser": { "type": "object", "required": ["name"], "properties": {
            "name": { "type": "string" }, "role": { "type": "string", "enum": ["admin", "member"], "default": "member" } } },
        "CreateKey": { "type": "object", "properties": { "expires_unix_s": { "type": "integer" } } },
        "Policy": { "type": "object", "description": "An AWS IAM policy document (Version, Statement)." },
        "Quota": { "type": "object", "properties": {
            "max_bytes": { "type": "integer", "minimum": 0 }, "max_objects": { "type": "integer", "minimum": 0 } } },
        "BreakGlassRequest": { "type": "object", "required": ["tenant", "reason"], "properties": {
            "tenant": { "type": "string" }, "bucket": { "type": "string" }, "reason": { "type": "string" },
            "duration_seconds": { "type": "integer", "minimum": 60, "maximum": 86400, "default": 3600 } } },
        "CreateEncryptionKey": { "type": "object", "required": ["id"], "properties": { "id": { "type": "string" } } },
        "Error": { "type": "object", "properties": { "error": { "type": "string" } } },
    })
}

/// The document.
pub(crate) fn document() -> Value {
    let mut paths = Map::new();
    for (path, method, summary, scope, body) in OPERATIONS {
        let parameters: Vec<Value> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string" } }))
            .collect();
        let mut op = json!({
            "summary": summary,
            "parameters": parameters,
            "responses": {
                "200": { "description": "Success (201 for creations, 204 for deletions)" },
                "400": { "description": "Invalid request", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } },
                "401": { "description": "Missing, invalid or expired credentials or token" },
                "403": { "description": "The token lacks the scope, or the identity may not do this" },
                "404": { "description": "Not found" },
            },
        });
        if scope.is_empty() {
            op["security"] = json!([{ "basic": [] }]);
        } else {
            op["security"] = json!([{ "bearer": [scope] }]);
            op["x-coffre-scope"] = json!(scope);
        }
        if let Some(schema) = body {
            op["requestBody"] = json!({ "required": true, "content": { "application/json": {
                "schema": { "$ref": format!("#/components/schemas/{schema}") } } } });
        }
        let entry = paths.entry((*path).to_owned()).or_insert_with(|| json!({}));
        entry[*method] = op;
    }
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "Coffre admin API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Tenants, users, access keys, policies, quotas, usage, encryption keys and break-glass access. Obtain a bearer token at POST /admin/v1/tokens with an access key and secret (HTTP Basic); each operation needs the scope named in x-coffre-scope.",
        },
        "paths": paths,
        "components": {
            "securitySchemes": {
                "basic": { "type": "http", "scheme": "basic", "description": "access key id : secret access key" },
                "bearer": { "type": "http", "scheme": "bearer" },
            },
            "schemas": schemas(),
        },
    })
}
