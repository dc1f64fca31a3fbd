//! `coffre admin`: tenants, operators, users, access keys, policies, quotas, usage and
//! break-glass, over the admin API. Tables for people, `--json` for scripts.

use anyhow::Context;
use reqwest::Method;
use serde_json::{Value, json};

use crate::admin_client::{AdminClient, ConnectArgs, print_table};

/// `coffre admin` options.
#[derive(Debug, clap::Args)]
pub struct AdminArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,
    #[command(subcommand)]
    pub command: AdminCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum AdminCommand {
    /// Obtain a bearer token (for --token / COFFRE_ADMIN_TOKEN).
    Login {
        /// Scopes to hold (tenants, iam, quotas, usage, kms, break-glass); default: all allowed.
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// Lifetime in seconds.
        #[arg(long, default_value_t = 3600)]
        ttl: i64,
    },
    /// Tenants (operators).
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Operators (operators).
    #[command(subcommand)]
    Operator(OperatorCommand),
    /// Users of a tenant (its admins).
    #[command(subcommand)]
    User(UserCommand),
    /// Access keys of a tenant's users (its admins).
    #[command(subcommand)]
    Key(KeyCommand),
    /// Identity policies of a tenant's users (its admins).
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Bucket quotas (operators).
    #[command(subcommand)]
    Quota(QuotaCommand),
    /// Bytes and objects per bucket of a tenant.
    Usage { tenant: String },
    /// What the background workers (lifecycle) are doing and have done (operators).
    Workers,
    /// Two-person break-glass access to a tenant's data (operators).
    #[command(subcommand, name = "break-glass")]
    BreakGlass(BreakGlassCommand),
}

#[derive(Debug, clap::Subcommand)]
pub enum TenantCommand {
    /// Create a tenant; with --admin-user, also its first admin and an access key (shown once).
    Create {
        name: String,
        #[arg(long)]
        admin_user: Option<String>,
    },
    List,
    /// Delete a tenant that owns no bucket, with its users and keys.
    Delete {
        name: String,
    },
}

#[derive(Debug, clap::Subcommand)]
pub enum OperatorCommand {
    /// Create an operator with an access key (shown once). The first two are active at once;
    /// later ones stay pending until a second operator approves them.
    Create {
        name: String,
    },
    /// Approve a pending operator created by another operator (the two-person rule).
    Approve {
        name: String,
    },
    List,
}

#[derive(Debug, clap::Subcommand)]
pub enum UserCommand {
    Create {
        tenant: String,
        name: String,
        /// admin or member.
        #[arg(long, default_value = "member")]
        role: String,
    },
    List {
        tenant: String,
    },
    Delete {
        tenant: String,
        name: String,
    },
}

#[derive(Debug, clap::Subcommand)]
pub enum KeyCommand {
    /// Create an access key; its secret is shown once.
    Create {
        tenant: String,
        user: String,
        /// Expire the key after this many seconds.
        #[arg(long)]
        expires_in: Option<i64>,
    },
    List {
        tenant: String,
        #[arg(long)]
        user: Option<String>,
    },
    Disable {
        tenant: String,
        id: String,
    },
    Enable {
        tenant: String,
        id: String,
    },
    Delete {
        tenant: String,
        id: String,
    },
}

#[derive(Debug, clap::Subcommand)]
pub enum PolicyCommand {
    /// Attach a policy (AWS JSON policy language) to a user.
    Put {
        tenant: String,
        user: String,
        name: String,
        /// The policy document.
        #[arg(long, conflicts_with = "file")]
        document: Option<String>,
        /// A file holding the policy document.
        #[arg(long)]
        file: Option<std::path::PathBuf>,
    },
    Get {
        tenant: String,
        user: String,
        name: String,
    },
    Delete {
        tenant: String,
        user: String,
        name: String,
    },
}

#[derive(Debug, clap::Subcommand)]
pub enum QuotaCommand {
    /// Set a bucket's quota (a limit not given is unlimited).
    Set {
        bucket: String,
        #[arg(long)]
        max_bytes: Option<u64>,
        #[arg(long)]
        max_objects: Option<u64>,
    },
    Get {
        bucket: String,
    },
}

#[derive(Debug, clap::Subcommand)]
pub enum BreakGlassCommand {
    /// Ask for time-limited read access to a tenant's data; another operator must approve.
    Request {
        tenant: String,
        #[arg(long)]
        bucket: Option<String>,
        #[arg(long)]
        reason: String,
        /// Seconds of access once approved.
        #[arg(long, default_value_t = 3600)]
        duration: i64,
    },
    /// Approve another operator's request.
    Approve {
        id: String,
    },
    List,
}

/// Path segment, percent-encoded.
fn seg(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn now_unix_s() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

pub async fn run(args: AdminArgs) -> anyhow::Result<()> {
    use AdminCommand as C;
    let json_out = args.connect.json;
    if let C::Login { scopes, ttl } = &args.command {
        let token = AdminClient::login(&args.connect, scopes, *ttl).await?;
        if json_out {
            println!("{}", serde_json::to_string_pretty(&token)?);
        } else {
            println!("{}", token["token"].as_str().unwrap_or_default());
        }
        return Ok(());
    }
    let client = AdminClient::connect(&args.connect).await?;
    let (value, columns): (Value, &[(&str, &str)]) = match args.command {
        C::Login { .. } => return Ok(()),
        C::Tenant(TenantCommand::Create { name, admin_user }) => {
            let v = client
                .call(Method::POST, "/admin/v1/tenants", Some(json!({ "name": name, "admin_user": admin_user })))
                .await?;
            (
                v,
                &[
                    ("TENANT", "/tenant/name"),
                    ("ADMIN", "/user"),
                    ("ACCESS KEY", "/access_key_id"),
                    ("SECRET KEY", "/secret_access_key"),
                ],
            )
        }
        C::Tenant(TenantCommand::List) => (
            client.call(Method::GET, "/admin/v1/tenants", None).await?,
            &[("TENANT", "name"), ("CREATED", "created_unix_s")],
        ),
        C::Tenant(TenantCommand::Delete { name }) => {
            client.call(Method::DELETE, &format!("/admin/v1/tenants/{}", seg(&name)), None).await?;
            (json!({ "deleted": name }), &[("DELETED", "deleted")])
        }
        C::Operator(OperatorCommand::Create { name }) => {
            let v = client.call(Method::POST, "/admin/v1/operators", Some(json!({ "name": name }))).await?;
            (
                v,
                &[
                    ("OPERATOR", "user"),
                    ("STATUS", "status"),
                    ("ACCESS KEY", "access_key_id"),
                    ("SECRET KEY", "secret_access_key"),
                ],
            )
        }
        C::Operator(OperatorCommand::Approve { name }) => (
            client.call(Method::POST, &format!("/admin/v1/operators/{}/approve", seg(&name)), None).await?,
            OPERATOR_COLUMNS,
        ),
        C::Operator(OperatorCommand::List) => {
            (client.call(Method::GET, "/admin/v1/operators", None).await?, OPERATOR_COLUMNS)
        }
        C::User(UserCommand::Create { tenant, name, role }) => {
            let v = client
                .call(
                    Method::POST,
                    &format!("/admin/v1/tenants/{}/users", seg(&tenant)),
                    Some(json!({ "name": name, "role": role })),
                )
                .await?;
            (v, &[("TENANT", "tenant"), ("USER", "name"), ("ROLE", "role")])
        }
        C::User(UserCommand::List { tenant }) => {
            let v = client.call(Method::GET, &format!("/admin/v1/tenants/{}/users", seg(&tenant)), None).await?;
            (v, &[("USER", "name"), ("ROLE", "role"), ("POLICIES", "policies")])
        }
        C::User(UserCommand::Delete { tenant, name }) => {
            client
                .call(Method::DELETE, &format!("/admin/v1/tenants/{}/users/{}", seg(&tenant), seg(&name)), None)
                .await?;
            (json!({ "deleted": name }), &[("DELETED", "deleted")])
        }
        C::Key(KeyCommand::Create { tenant, user, expires_in }) => {
            let body = json!({ "expires_unix_s": expires_in.map(|s| now_unix_s() + s) });
            let v = client
                .call(
                    Method::POST,
                    &format!("/admin/v1/tenants/{}/users/{}/keys", seg(&tenant), seg(&user)),
                    Some(body),
                )
                .await?;
            (v, &[("ACCESS KEY", "access_key_id"), ("SECRET KEY", "secret_access_key"), ("EXPIRES", "expires_unix_s")])
        }
        C::Key(KeyCommand::List { tenant, user }) => {
            let path = match &user {
                Some(u) => format!("/admin/v1/tenants/{}/users/{}/keys", seg(&tenant), seg(u)),
                None => format!("/admin/v1/tenants/{}/keys", seg(&tenant)),
            };
            let v = client.call(Method::GET, &path, None).await?;
            (v, KEY_COLUMNS)
        }
        C::Key(KeyCommand::Disable { tenant, id }) => {
            (key_action(&client, &tenant, &id, "disable").await?, KEY_COLUMNS)
        }
        C::Key(KeyCommand::Enable { tenant, id }) => (key_action(&client, &tenant, &id, "enable").await?, KEY_COLUMNS),
        C::Key(KeyCommand::Delete { tenant, id }) => {
            client.call(Method::DELETE, &format!("/admin/v1/tenants/{}/keys/{}", seg(&tenant), seg(&id)), None).await?;
            (json!({ "deleted": id }), &[("DELETED", "deleted")])
        }
        C::Policy(PolicyCommand::Put { tenant, user, name, document, file }) => {
            let text = match (document, file) {
                (Some(d), _) => d,
                (None, Some(f)) => std::fs::read_to_string(&f).with_context(|| format!("read {}", f.display()))?,
                (None, None) => anyhow::bail!("give the policy with --document or --file"),
            };
            let path = format!("/admin/v1/tenants/{}/users/{}/policies/{}", seg(&tenant), seg(&user), seg(&name));
            client.send(Method::PUT, &path, Some(text)).await?;
            (json!({ "attached": name, "user": user }), &[("ATTACHED", "attached"), ("USER", "user")])
        }
        C::Policy(PolicyCommand::Get { tenant, user, name }) => {
            let path = format!("/admin/v1/tenants/{}/users/{}/policies/{}", seg(&tenant), seg(&user), seg(&name));
            let v = client.call(Method::GET, &path, None).await?;
            println!("{}", serde_json::to_string_pretty(&v)?);
            return Ok(());
        }
        C::Policy(PolicyCommand::Delete { tenant, user, name }) => {
            let path = format!("/admin/v1/tenants/{}/users/{}/policies/{}", seg(&tenant), seg(&user), seg(&name));
            client.call(Method::DELETE, &path, None).await?;
            (json!({ "detached": name, "user": user }), &[("DETACHED", "detached"), ("USER", "user")])
        }
        C::Quota(QuotaCommand::Set { bucket, max_bytes, max_objects }) => {
            let body = json!({ "max_bytes": max_bytes, "max_objects": max_objects });
            let v = client.call(Method::PUT, &format!("/admin/v1/buckets/{}/quota", seg(&bucket)), Some(body)).await?;
            (v, QUOTA_COLUMNS)
        }
        C::Quota(QuotaCommand::Get { bucket }) => {
            (client.call(Method::GET, &format!("/admin/v1/buckets/{}/quota", seg(&bucket)), None).await?, QUOTA_COLUMNS)
        }
        C::Usage { tenant } => {
            let v = client.call(Method::GET, &format!("/admin/v1/tenants/{}/usage", seg(&tenant)), None).await?;
            if !json_out {
                let rows = v["buckets"].as_array().cloned().unwrap_or_default();
                print_table(&rows, QUOTA_COLUMNS);
                println!("total: {} bytes in {} objects", v["total_bytes"], v["total_objects"]);
                return Ok(());
            }
            (v, &[])
        }
        C::Workers => (client.call(Method::GET, "/admin/v1/workers", None).await?, WORKER_COLUMNS),
        C::BreakGlass(BreakGlassCommand::Request { tenant, bucket, reason, duration }) => {
            let body = json!({ "tenant": tenant, "bucket": bucket, "reason": reason, "duration_seconds": duration });
            (client.call(Method::POST, "/admin/v1/break-glass", Some(body)).await?, BREAK_GLASS_COLUMNS)
        }
        C::BreakGlass(BreakGlassCommand::Approve { id }) => (
            client.call(Method::POST, &format!("/admin/v1/break-glass/{}/approve", seg(&id)), None).await?,
            BREAK_GLASS_COLUMNS,
        ),
        C::BreakGlass(BreakGlassCommand::List) => {
            (client.call(Method::GET, "/admin/v1/break-glass", None).await?, BREAK_GLASS_COLUMNS)
        }
    };
    if json_out {
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        let rows = match value {
            Value::Array(a) => a,
            other => vec![other],
        };
        print_table(&rows, columns);
    }
    Ok(())
}

async fn key_action(client: &AdminClient, tenant: &str, id: &str, action: &str) -> anyhow::Result<Value> {
    client.call(Method::POST, &format!("/admin/v1/tenants/{}/keys/{}/{action}", seg(tenant), seg(id)), None).await
}

const KEY_COLUMNS: &[(&str, &str)] =
    &[("ACCESS KEY", "access_key_id"), ("USER", "user"), ("STATUS", "status"), ("EXPIRES", "expires_unix_s")];

const OPERATOR_COLUMNS: &[(&str, &str)] = &[
    ("OPERATOR", "name"),
    ("STATUS", "status"),
    ("CREATED BY", "created_by"),
    ("APPROVED BY", "creation_approved_by"),
    ("ACTIVE SINCE", "active_since_unix_s"),
];

const QUOTA_COLUMNS: &[(&str, &str)] = &[
    ("BUCKET", "bucket"),
    ("BYTES", "bytes"),
    ("OBJECTS", "objects"),
    ("MAX BYTES", "/quota/max_bytes"),
    ("MAX OBJECTS", "/quota/max_objects"),
];

const WORKER_COLUMNS: &[(&str, &str)] = &[
    ("NAME", "name"),
    ("STATE", "state"),
    ("PASSES", "passes"),
    ("LAST PASS FINISHED", "pass_finished"),
    ("THROTTLED MS", "throttled_ms"),
    ("ERRORS", "errors"),
    ("LAST ERROR", "last_error"),
];

const BREAK_GLASS_COLUMNS: &[(&str, &str)] = &[
    ("ID", "id"),
    ("REQUESTED BY", "requested_by"),
    ("TENANT", "tenant"),
    ("BUCKET", "bucket"),
    ("APPROVED BY", "approved_by"),
    ("EXPIRES", "expires_unix_s"),
    ("REASON", "reason"),
];
